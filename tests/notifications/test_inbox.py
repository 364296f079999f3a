"""The in-app inbox: API, page, header count; the operators' outbox view."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from puhui.audit.models import AuditEvent
from puhui.consent.service import APPROVED_SMS
from puhui.core.policy import Role
from puhui.notifications import service
from puhui.notifications.models import DeliveryReceipt, MessagePart
from tests import factories
from tests.conftest import csrf_from

KEY = "tests.inbox"


@pytest.fixture(autouse=True)
def _template():
    service.register_template(KEY, subject="Messages", body=APPROVED_SMS)


def _notify(session, user_id: int, n: int, **kw):
    return service.notify(
        session,
        template=KEY,
        params={"id": n},
        user_id=user_id,
        channels=("inbox",),
        locale="en",
        **kw,
    )[0]


@pytest.fixture
def two_users(session):
    me = factories.user(session, Role.ENTERPRISE)
    other = factories.user(session, Role.CUSTOMER_MANAGER)
    mine = [_notify(session, me.id, n) for n in (1, 2, 3)]
    theirs = _notify(session, other.id, 9)
    session.commit()
    return me, other, mine, theirs


class TestInboxApi:
    def test_list_filter_count_and_mark_read(self, client, two_users):
        me, _, mine, _ = two_users
        headers = factories.token(client, me.username)
        page = client.get("/api/v1/me/inbox", headers=headers).json()
        assert page["total"] == 3
        assert [i["id"] for i in page["items"]] == [m.id for m in reversed(mine)]
        assert page["items"][0]["body"] == "[Puhui] Your authorization request 3 was approved."
        assert client.get("/api/v1/me/inbox/unread-count", headers=headers).json() == {"unread": 3}

        r = client.post(f"/api/v1/me/inbox/{mine[0].id}/read", headers=headers)
        assert r.status_code == 200 and r.json()["read_at"] is not None
        again = client.post(f"/api/v1/me/inbox/{mine[0].id}/read", headers=headers)
        assert again.json()["read_at"] == r.json()["read_at"]  # idempotent
        assert client.get("/api/v1/me/inbox/unread-count", headers=headers).json() == {"unread": 2}
        unread = client.get("/api/v1/me/inbox?unread=true", headers=headers).json()
        assert sorted(i["id"] for i in unread["items"]) == [mine[1].id, mine[2].id]

    def test_someone_elses_message_is_not_found(self, client, two_users, session):
        me, _, _, theirs = two_users
        headers = factories.token(client, me.username)
        r = client.post(f"/api/v1/me/inbox/{theirs.id}/read", headers=headers)
        assert r.status_code == 404 and r.json()["error"]["code"] == "message_not_found"
        assert client.post("/api/v1/me/inbox/999999999/read", headers=headers).status_code == 404
        sms = service.send_sms(
            session, recipient="13800138000", body="x", purpose="t", user_id=me.id
        )
        session.commit()
        assert client.post(f"/api/v1/me/inbox/{sms.id}/read", headers=headers).status_code == 404
        session.refresh(theirs)
        assert theirs.read_at is None

    def test_pagination_is_bounded(self, client, two_users):
        me, *_ = two_users
        headers = factories.token(client, me.username)
        assert client.get("/api/v1/me/inbox?per_page=101", headers=headers).status_code == 422
        page = client.get("/api/v1/me/inbox?per_page=2&page=2", headers=headers).json()
        assert (page["total"], page["pages"], len(page["items"])) == (3, 2, 1)


class TestInboxPage:
    def test_page_lists_messages_and_the_header_counts_unread(self, client, two_users):
        me, _, mine, _ = two_users
        factories.web_login(client, me.username)
        html = client.get("/inbox?lang=en").text
        assert "[Puhui] Your authorization request 2 was approved." in html
        assert 'href="/inbox" class="inbox-link">Inbox <span class="badge badge-alert"' in html
        csrf = csrf_from(html)
        r = client.post(
            f"/inbox/{mine[1].id}/read", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert r.status_code == 303
        assert client.get("/api/v1/me/inbox/unread-count").status_code == 401  # API: no cookies
        r = client.post("/inbox/read-all", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303
        html = client.get("/account").text
        assert 'class="inbox-link">' in html and "badge-alert" not in html  # all read

    def test_marking_someone_elses_message_from_the_page_is_not_found(self, client, two_users):
        me, _, _, theirs = two_users
        csrf = factories.web_login(client, me.username)
        r = client.post(f"/inbox/{theirs.id}/read", data={"csrf_token": csrf})
        assert r.status_code == 404


class TestOutboxForOperators:
    def test_statuses_attempts_receipts_and_masked_recipients(self, client, session):
        operator = factories.user(session, Role.OPERATOR)
        sms = service.send_sms(session, recipient="13812345678", body="您好", purpose="test")
        mail = service.notify(
            session,
            template=KEY,
            params={"id": 5},
            email="zhang.san@example.cn",
            channels=("email",),
        )[0]
        sms.status, sms.attempts, sms.gateway_ref = "delivered", 1, "SM1"
        session.add(
            MessagePart(
                message_id=sms.id, part=1, gateway="log", gateway_ref="SM1", status="delivered"
            )
        )
        session.add(
            DeliveryReceipt(gateway="log", gateway_ref="SM1", message_id=sms.id, stat="DELIVRD")
        )
        session.commit()
        headers = factories.token(client, operator.username)
        items = client.get("/api/v1/notifications/messages?channel=sms", headers=headers).json()
        row = next(i for i in items["items"] if i["id"] == sms.id)
        assert row["recipient"] == "138****5678"
        assert (row["status"], row["attempts"], row["receipts"]) == ("delivered", 1, ["DELIVRD"])
        mails = client.get("/api/v1/notifications/messages?channel=email", headers=headers).json()
        mail_row = next(i for i in mails["items"] if i["id"] == mail.id)
        assert mail_row["recipient"] == "z*******n@example.cn"
        assert (
            client.get("/api/v1/notifications/messages?status=bogus", headers=headers).status_code
            == 422
        )

        factories.web_login(client, operator.username)
        html = client.get("/ops/messages?channel=sms").text
        assert "138****5678" in html and "13812345678" not in html and "DELIVRD" in html

    def test_operator_sends_a_dead_message_again_and_it_is_audited(self, client, session):
        operator = factories.user(session, Role.OPERATOR)
        sms = service.send_sms(session, recipient="13812345678", body="x", purpose="test")
        sms.status, sms.attempts, sms.last_error = "dead", 5, "unreachable"
        session.commit()
        csrf = factories.web_login(client, operator.username)
        r = client.post(
            f"/ops/messages/{sms.id}/retry", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert r.status_code == 303
        session.refresh(sms)
        assert (sms.status, sms.attempts) == ("pending", 0)
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "message.retry")
        ).one()
        assert (event.target_id, event.details) == (str(sms.id), {"channel": "sms", "was": "dead"})
        again = client.post(f"/ops/messages/{sms.id}/retry", data={"csrf_token": csrf})
        assert again.status_code == 409
