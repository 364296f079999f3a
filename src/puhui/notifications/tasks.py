"""Jobs of the notifications domain.

``deliver_message`` owns its transactions like a request does, but commits more than once
on purpose: the claim must be durable before the message leaves the platform, and the
outcome must be durable whether or not the job itself can still be marked done (a job
whose lease was lost is run again and finds the message settled). See the delivery
guarantee in ``puhui.notifications.service``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from puhui.config import get_settings
from puhui.core.jobs import job_handler, periodic
from puhui.notifications import service
from puhui.notifications.channels import (
    Accepted,
    ReceiptSource,
    TransientGatewayError,
    get_gateway,
)

log = logging.getLogger("puhui.notifications")


@job_handler(service.DELIVER_JOB)
def deliver_message(session: Session, payload: dict[str, Any]) -> None:
    message_id = int(payload["message_id"])
    gateway = service.gateway_of(session, message_id=message_id)
    session.commit()  # no transaction (and no SQLite write lock) is held over the network
    if gateway is None:
        return
    try:
        gateway.prepare()  # connect and check the session: nothing is handed over yet
    except TransientGatewayError as exc:
        claim = service.claim(session, message_id=message_id)
        if claim is not None:  # count the attempt and retry with back-off
            service.record_outcome(session, claim=claim, outcome=exc)
        session.commit()
        return
    claim = service.claim(session, message_id=message_id)
    session.commit()  # the claim is durable before the message leaves
    if claim is None:
        return
    outcome = service.hand_over(gateway, claim)
    service.record_outcome(session, claim=claim, outcome=outcome)
    session.commit()  # the outcome is durable even if this job cannot be marked done
    if isinstance(outcome, Accepted) and outcome.receipts and isinstance(gateway, ReceiptSource):
        gateway.acknowledge(outcome.receipts)


@job_handler(service.COLLECT_RECEIPTS_JOB)
def collect_receipts(session: Session, payload: dict[str, Any]) -> None:
    """Read the delivery receipts the SMSC has sent, store them, then acknowledge them."""
    settings = get_settings()
    if settings.sms_gateway != "smpp":
        return
    gateway = get_gateway("smpp", settings)
    if not isinstance(gateway, ReceiptSource):  # pragma: no cover - configuration error
        return
    try:
        receipts = gateway.collect_receipts(wait=settings.smpp_receipt_wait_seconds)
    except TransientGatewayError as exc:
        log.warning("cannot collect delivery receipts", extra={"error": str(exc)})
        return
    if not receipts:
        return
    service.record_receipts(session, gateway="smpp", receipts=receipts)
    session.commit()  # stored before the SMSC is told; a crash here makes it resend them
    gateway.acknowledge(receipts)


# a sweep for quiet times; after every SMPP hand-over a collection follows within a minute
periodic(service.COLLECT_RECEIPTS_JOB, every=timedelta(minutes=15))
