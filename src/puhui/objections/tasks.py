"""Objections' background work: the deadline sweep (reminders at day 15, escalation
when overdue; each once, and attachment files no row names removed) every quarter of an
hour, and writing a correction back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from puhui.core.jobs import job_handler, periodic
from puhui.objections import service

SWEEP_JOB = "objections.sweep"


@job_handler(SWEEP_JOB)
def sweep(session: Session, payload: dict[str, Any]) -> None:
    service.sweep(session)
    service.remove_orphan_files(session)


@job_handler(service.CORRECT_JOB)
def correct(session: Session, payload: dict[str, Any]) -> None:
    factory = sessionmaker(bind=session.get_bind(), expire_on_commit=False)
    service.write_correction(factory, objection_id=int(payload["objection_id"]))


periodic(SWEEP_JOB, every=timedelta(minutes=15))
