from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from puhui.core.pagination import PageParams, PageRead, page_read
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, page_params, require
from puhui.operations import service
from puhui.operations.schemas import JobRead

router = APIRouter(prefix="/api/v1/jobs", route_class=TxRoute, tags=["operations"])
JobStatus = Literal["pending", "running", "done", "dead"]


@router.get("", response_model=PageRead[JobRead], summary="Jobs in the outbox, newest first")
def list_jobs(
    status: JobStatus | None = None,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.JOBS_MANAGE),
    session: Session = Depends(db),
) -> PageRead[JobRead]:
    return page_read(JobRead, service.list_jobs(session, status=status, params=params))


@router.post(
    "/{job_id}/retry", response_model=JobRead, summary="Give a dead job a fresh set of attempts"
)
def retry_job(
    job_id: int,
    actor: Actor = require(Action.JOBS_MANAGE, obj="job"),
    session: Session = Depends(db),
) -> JobRead:
    return JobRead.model_validate(service.retry_job(session, actor=actor, job_id=job_id))
