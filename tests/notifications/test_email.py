"""E-mail over SMTP end to end, against a local aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update

from puhui.consent.service import APPROVED_SMS
from puhui.core import jobs
from puhui.core.db import session_scope
from puhui.core.orm import utcnow
from puhui.notifications import service
from puhui.notifications.models import FAILED, PENDING, SENT, Message
from tests.notifications.helpers import message, queue, run_worker
from tests.notifications.smsc import free_port

KEY = "tests.mail"


class Mailbox:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.rcpt_reply: str | None = None  # e.g. "550 no such user"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


@pytest.fixture
def mailbox(configure) -> Iterator[Mailbox]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    configure(
        email_gateway="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout_seconds=5,
        mail_from="noreply@puhui.example.cn",
    )
    yield box
    controller.stop()


@pytest.fixture(autouse=True)
def _template():
    service.register_template(KEY, subject="Messages", body=APPROVED_SMS)


def _mail(locale: str = "zh_CN"):
    def queue_it(s):
        (m,) = service.notify(
            s,
            template=KEY,
            params={"id": 12},
            email="li.lei@bank.example.cn",
            channels=("email",),
            locale=locale,
        )
        return m

    return queue_it


def test_mail_is_delivered_in_the_recipients_language(committed, mailbox):
    message_id = queue(committed, _mail("zh_CN"))
    assert run_worker(committed) == 1
    ((sender, rcpts, raw),) = mailbox.received
    assert (sender, rcpts) == ("noreply@puhui.example.cn", ["li.lei@bank.example.cn"])
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    sent = message(committed, message_id)
    assert mail["Subject"] == sent.subject and mail["To"] == "li.lei@bank.example.cn"
    assert mail.get_content().strip() == sent.body and "12" in sent.body
    assert mail["Message-ID"] == f"<puhui-{message_id}@puhui.example.cn>"
    assert (sent.status, sent.gateway_ref) == (SENT, mail["Message-ID"])


def test_refused_recipient_fails_for_good(committed, mailbox):
    mailbox.rcpt_reply = "550 5.1.1 no such user"
    message_id = queue(committed, _mail())
    run_worker(committed)
    failed = message(committed, message_id)
    assert failed.status == FAILED and "550" in (failed.last_error or "")
    assert mailbox.received == []


def test_temporary_refusal_is_retried(committed, mailbox):
    mailbox.rcpt_reply = "451 4.3.0 try again later"
    message_id = queue(committed, _mail())
    run_worker(committed)
    later = message(committed, message_id)
    assert (later.status, later.attempts) == (PENDING, 1) and "451" in (later.last_error or "")


def test_retries_run_out_then_the_message_is_dead(committed, configure, mailbox):
    configure(
        email_gateway="smtp",
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        smtp_timeout_seconds=1,
        notification_max_attempts=2,
    )
    message_id = queue(committed, _mail())
    for _ in range(2):
        run_worker(committed)
        with session_scope(committed) as s:  # let the back-off pass
            s.execute(update(Message).where(Message.id == message_id).values(next_attempt_at=None))
            s.execute(
                update(jobs.Job).where(jobs.Job.status == jobs.PENDING).values(run_at=utcnow())
            )
    dead = message(committed, message_id)
    assert (dead.status, dead.attempts) == ("dead", 2)
    assert "cannot be reached" in (dead.last_error or "")
