"""Monitoring's background work: judge each committed batch, re-judge everything after a
rule or catalog change, watch the borrowers of granted loans, send the SMS held back by
quiet hours and the daily digest of low-severity alerts.

Each handler does its whole effect in the job's transaction (alerts, inbox messages, SMS
jobs), so a worker killed mid-run leaves nothing behind and the retry does it once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from puhui.core.jobs import job_handler, periodic, subscribe
from puhui.ingest.service import BATCH_COMMITTED
from puhui.matching.schemas import LOAN_GRANTED
from puhui.monitoring import downloads, evaluation, service


@job_handler(service.EVALUATE_BATCH_JOB)
def evaluate_batch(session: Session, payload: dict[str, Any]) -> None:
    """A batch committed: judge the (entity, indicator) pairs it changed."""
    service.evaluate_batch(session, lake_version=int(payload["lake_version"]))


subscribe(BATCH_COMMITTED, service.EVALUATE_BATCH_JOB)


@job_handler(service.EVALUATE_ALL_JOB)
def evaluate_all(session: Session, payload: dict[str, Any]) -> None:
    """Judge the latest period of every monitored pair against every enabled rule."""
    run = "all:" + ":".join(f"{k}={payload[k]}" for k in sorted(payload))
    service.evaluate_all(session, run=run[:80])


@job_handler(service.WATCH_GRANTED_JOB)
def watch_granted(session: Session, payload: dict[str, Any]) -> None:
    service.watch_granted_loan(session, payload)


subscribe(LOAN_GRANTED, service.WATCH_GRANTED_JOB)


@job_handler(evaluation.DEFERRED_JOB)
def deferred_sms(session: Session, payload: dict[str, Any]) -> None:
    """The quiet hours are over: text the high and medium alerts that waited."""
    evaluation.deferred_sms(session)


@job_handler(service.DIGEST_JOB)
def daily_digest(session: Session, payload: dict[str, Any]) -> None:
    """Once a day (00:00 UTC, 08:00 in Ningbo): the digest SMS of low-severity alerts."""
    evaluation.daily_digest(session)


periodic(service.DIGEST_JOB, every=timedelta(days=1))


@job_handler(downloads.PURGE_JOB)
def purge_downloads(session: Session, payload: dict[str, Any]) -> None:
    """Drop the stored batch download packages past their retention."""
    downloads.purge_expired(session)


periodic(downloads.PURGE_JOB, every=timedelta(hours=6))
