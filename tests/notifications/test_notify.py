"""notify() and send_sms(): what gets queued, in the caller's transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from puhui.consent.service import APPROVED_SMS
from puhui.core.jobs import Job
from puhui.core.policy import Role
from puhui.notifications import service
from puhui.notifications.errors import InvalidRecipient
from puhui.notifications.models import DELIVERED, EMAIL, INBOX, PENDING, SMS, Message
from tests import factories

KEY = "tests.decided"


@pytest.fixture(autouse=True)
def _template():
    service.register_template(KEY, subject="Messages", body=APPROVED_SMS)


def _jobs(session) -> list[dict]:
    return list(session.scalars(select(Job.payload).where(Job.kind == service.DELIVER_JOB)))


class TestNotify:
    def test_one_message_per_channel_with_an_address(self, session):
        user = factories.user(session, Role.CUSTOMER_MANAGER, mobile="13800138001")
        messages = service.notify(
            session,
            template=KEY,
            params={"id": 7},
            user_id=user.id,
            email="cm@bank.example.cn",
            channels=("inbox", "sms", "email"),
            locale="en",
        )
        assert [(m.channel, m.recipient, m.status) for m in messages] == [
            (INBOX, "", DELIVERED),
            (SMS, "13800138001", PENDING),  # the user's own mobile
            (EMAIL, "cm@bank.example.cn", PENDING),
        ]
        assert {m.body for m in messages} == {"[Puhui] Your authorization request 7 was approved."}
        assert {m.subject for m in messages} == {"Messages"}
        assert {(m.template, m.locale, m.purpose) for m in messages} == {(KEY, "en", KEY)}
        assert messages[0].delivered_at is not None and messages[0].read_at is None
        assert messages[1].gateway == "log" and messages[2].gateway == "log"
        # only the outbound channels get a delivery job; nothing is sent inline
        assert sorted(p["message_id"] for p in _jobs(session)) == [m.id for m in messages[1:]]

    def test_default_is_inbox_and_sms_in_the_default_language(self, session):
        user = factories.user(session, Role.ENTERPRISE, mobile="13800138002")
        messages = service.notify(session, template=KEY, params={"id": 8}, user_id=user.id)
        assert [m.channel for m in messages] == [INBOX, SMS]
        assert {m.locale for m in messages} == {"zh_CN"}
        assert "8" in messages[1].body and "Puhui" not in messages[1].body

    def test_channels_without_an_address_are_skipped(self, session):
        user = factories.user(session, Role.CUSTOMER_MANAGER)  # no mobile
        messages = service.notify(
            session, template=KEY, params={"id": 1}, user_id=user.id, channels=("sms", "email")
        )
        assert messages == []
        only_sms = service.notify(session, template=KEY, params={"id": 1}, mobile="13800138003")
        assert [m.channel for m in only_sms] == [SMS]  # no user: no inbox

    def test_bad_input_is_refused_and_nothing_is_queued(self, session):
        before = session.scalar(select(func.count()).select_from(Message))
        with pytest.raises(ValueError, match="unknown notification template"):
            service.notify(session, template="tests.missing", params={}, mobile="13800138000")
        with pytest.raises(ValueError, match="needs the parameter 'id'"):
            service.notify(session, template=KEY, params={}, mobile="13800138000")
        with pytest.raises(ValueError, match="unknown notification channel"):
            service.notify(session, template=KEY, params={"id": 1}, channels=("fax",))
        with pytest.raises(InvalidRecipient):
            service.notify(session, template=KEY, params={"id": 1}, mobile="12345")
        with pytest.raises(InvalidRecipient):
            service.notify(
                session,
                template=KEY,
                params={"id": 1},
                email="x@y.cn\nBcc: z@w.cn",
                channels=("email",),
            )
        assert session.scalar(select(func.count()).select_from(Message)) == before

    def test_dedupe_key_queues_the_same_send_once(self, session):
        user = factories.user(session, Role.ENTERPRISE, mobile="13800138004")
        first = service.notify(
            session, template=KEY, params={"id": 2}, user_id=user.id, dedupe_key="claim:2:won"
        )
        again = service.notify(
            session, template=KEY, params={"id": 2}, user_id=user.id, dedupe_key="claim:2:won"
        )
        assert [m.id for m in again] == [m.id for m in first]
        assert {m.dedupe_key for m in first} == {"claim:2:won:inbox", "claim:2:won:sms"}
        assert len(_jobs(session)) == 1

    def test_gateway_is_chosen_from_the_settings_at_enqueue(self, session, configure):
        configure(
            sms_gateway="smpp", smpp_system_id="p", smpp_source_addr="1069", email_gateway="smtp"
        )
        sms, mail = service.notify(
            session,
            template=KEY,
            params={"id": 3},
            mobile="13800138005",
            email="a@b.cn",
            channels=("sms", "email"),
        )
        assert (sms.gateway, mail.gateway) == ("smpp", "smtp")


class TestSendSms:
    def test_ready_text_is_queued_like_any_sms(self, session):
        message = service.send_sms(
            session, recipient="13800138006", body="验证码 123456", purpose="registration"
        )
        assert (message.channel, message.status, message.template) == (SMS, PENDING, None)
        assert {"message_id": message.id} in _jobs(session)

    def test_refuses_an_empty_text_or_a_bad_number(self, session):
        with pytest.raises(ValueError, match="needs a text"):
            service.send_sms(session, recipient="13800138006", body="", purpose="x")
        with pytest.raises(InvalidRecipient):
            service.send_sms(session, recipient="call me", body="x", purpose="x")
