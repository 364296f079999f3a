"""Per-number SMS rate limit: a message over the limit is deferred, never dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from puhui.core import jobs
from puhui.notifications import service
from puhui.notifications.models import PENDING, SENT
from tests.notifications.helpers import due_jobs, message, queue, run_worker

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    """One frozen clock for the notifications service and the job worker."""
    now = [T0]
    monkeypatch.setattr(service, "utcnow", lambda: now[0])
    monkeypatch.setattr(jobs, "utcnow", lambda: now[0])
    return now


def _sms(mobile: str):
    return lambda s: service.send_sms(s, recipient=mobile, body="hi", purpose="test")


def test_over_the_limit_is_deferred_until_the_window_frees_a_slot(committed, configure, clock):
    configure(sms_per_number_per_hour=2)
    first = queue(committed, _sms("13800000001"))
    run_worker(committed)
    clock[0] = T0 + timedelta(minutes=10)
    second = queue(committed, _sms("13800000001"))
    other = queue(committed, _sms("13800000002"))  # another number is not limited
    run_worker(committed)
    clock[0] = T0 + timedelta(minutes=20)
    third = queue(committed, _sms("13800000001"))
    run_worker(committed)

    assert [message(committed, m).status for m in (first, second, other)] == [SENT] * 3
    deferred = message(committed, third)
    assert (deferred.status, deferred.attempts) == (PENDING, 0)
    assert deferred.next_attempt_at == T0 + timedelta(hours=1)  # when the first leaves
    assert "2 SMS an hour" in (deferred.last_error or "")
    (later,) = due_jobs(committed, service.DELIVER_JOB)
    assert later.run_at == T0 + timedelta(hours=1)

    clock[0] = T0 + timedelta(minutes=59)
    assert run_worker(committed) == 0  # not due yet
    clock[0] = T0 + timedelta(hours=1)
    assert run_worker(committed) == 1
    sent = message(committed, third)
    assert (sent.status, sent.attempts, sent.last_error) == (SENT, 1, None)
    assert sent.submitted_at == T0 + timedelta(hours=1)


def test_a_job_run_early_defers_again_instead_of_sending(committed, configure, clock):
    configure(sms_per_number_per_hour=1)
    queue(committed, _sms("13800000003"))
    run_worker(committed)
    held = queue(committed, _sms("13800000003"))
    run_worker(committed)
    assert message(committed, held).status == PENDING
    # an operator's retry of the job (or a duplicate job) runs it before its time
    with committed.begin() as s:
        jobs.enqueue(s, service.DELIVER_JOB, {"message_id": held})
    run_worker(committed)
    assert message(committed, held).status == PENDING
    assert {j.run_at for j in due_jobs(committed, service.DELIVER_JOB)} == {T0 + timedelta(hours=1)}
