"""Operator actions on the jobs outbox, each audited."""

from __future__ import annotations

from sqlalchemy.orm import Session

from puhui.audit import service as audit
from puhui.core import jobs
from puhui.core.errors import Conflict, NotFound
from puhui.core.pagination import Page, PageParams, paginate
from puhui.core.policy import Actor


def job_counts(session: Session) -> dict[str, int]:
    return jobs.count_by_status(session)


def list_jobs(session: Session, *, status: str | None, params: PageParams) -> Page[jobs.Job]:
    return paginate(session, jobs.jobs_query(status), params)


def retry_job(session: Session, *, actor: Actor, job_id: int) -> jobs.Job:
    job = jobs.get_job(session, job_id)
    if job is None:
        raise NotFound("No such job.")
    if job.status != jobs.DEAD:
        raise Conflict("Only a dead job can be retried.")
    jobs.retry_dead(session, job)
    audit.record(
        session,
        actor=actor,
        action="job.retry",
        target_type="job",
        target_id=job.id,
        details={"kind": job.kind},
    )
    return job
