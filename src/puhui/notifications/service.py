"""Queue messages in the caller's transaction; a job delivers each one after commit."""

from __future__ import annotations

from sqlalchemy.orm import Session

from puhui.core import jobs
from puhui.core.orm import utcnow
from puhui.core.pagination import Page, PageParams, paginate
from puhui.notifications import repository
from puhui.notifications.channels import GATEWAYS
from puhui.notifications.models import Message

DELIVER_JOB = "notifications.deliver"


def send_sms(
    session: Session, *, recipient: str, body: str, purpose: str, user_id: int | None = None
) -> Message:
    message = Message(
        channel="sms",
        gateway="log",
        recipient=recipient,
        body=body,
        purpose=purpose,
        user_id=user_id,
        status="pending",
    )
    session.add(message)
    session.flush()
    jobs.enqueue(session, DELIVER_JOB, {"message_id": message.id})
    return message


def deliver(session: Session, *, message_id: int) -> None:
    """Deliver one queued message; a message already sent is left alone (idempotent)."""
    message = session.get(Message, message_id, with_for_update=True)
    if message is None or message.status == "sent":
        return
    gateway = GATEWAYS[message.gateway]
    message.gateway_ref = gateway.send(
        message_id=message.id, recipient=message.recipient, body=message.body
    )
    message.status = "sent"
    message.sent_at = utcnow()
    session.flush()


def list_messages(session: Session, *, status: str | None, params: PageParams) -> Page[Message]:
    return paginate(session, repository.messages_query(status), params)
