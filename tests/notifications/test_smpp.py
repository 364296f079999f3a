"""SMS over SMPP 3.4 end to end: smpplib against the test SMSC (smpp34) on 127.0.0.1."""

from __future__ import annotations

import socket

from puhui.core.db import session_scope
from puhui.notifications import service, tasks
from puhui.notifications.channels import get_gateway
from puhui.notifications.models import DELIVERED, FAILED, PENDING, SENT
from tests.notifications.helpers import (
    due_jobs,
    message,
    parts,
    queue,
    receipts,
    run_worker,
    wait_until,
)
from tests.notifications.smsc import free_port

MOBILE = "13800138000"


def _sms(body: str, mobile: str = MOBILE):
    return lambda s: service.send_sms(s, recipient=mobile, body=body, purpose="test")


def _collect(committed) -> None:
    with session_scope(committed) as s:
        tasks.collect_receipts(s, {})


class TestSubmit:
    def test_chinese_text_goes_as_ucs2_with_a_receipt_requested(
        self, committed, smsc, smpp_settings
    ):
        message_id = queue(committed, _sms("您的授权申请已通过。"))
        assert run_worker(committed) == 1
        (sub,) = smsc.received()
        assert sub.data_coding == 8 and sub.esm_class == 0
        assert sub.short_message.decode("utf-16-be") == "您的授权申请已通过。"
        assert (sub.destination_addr, sub.source_addr) == (MOBILE, "10690001")
        assert sub.registered_delivery == 1
        assert sub.user_reference == message_id % 65536
        sent = message(committed, message_id)
        assert (sent.status, sent.attempts, sent.gateway) == (SENT, 1, "smpp")
        assert sent.gateway_ref == sub.message_id and sent.sent_at is not None
        assert parts(committed, message_id) == [(1, sub.message_id, SENT)]
        # a collection of receipts is queued for the next minute
        assert len(due_jobs(committed, service.COLLECT_RECEIPTS_JOB)) == 1

    def test_receipt_is_recorded_then_acknowledged_and_settles_the_message(
        self, committed, smsc, smpp_settings
    ):
        message_id = queue(committed, _sms("hello"))
        run_worker(committed)
        (sub,) = smsc.received()
        assert sub.data_coding == 0  # GSM default alphabet
        wait_until(
            lambda: receipts(committed, message_id) or _collect(committed),
            seconds=5,
            what="the receipt",
        )
        assert receipts(committed, message_id) == ["DELIVRD"]
        done = message(committed, message_id)
        assert done.status == DELIVERED and done.delivered_at is not None
        assert parts(committed, message_id) == [(1, sub.message_id, DELIVERED)]
        wait_until(lambda: len(smsc.delivered_receipts) == 1, seconds=5, what="the ack")

    def test_long_text_is_split_into_concatenated_parts(self, committed, smsc, smpp_settings):
        text = "普惠金融信用信息平台通知：" * 12  # 156 characters: 3 UCS-2 parts
        message_id = queue(committed, _sms(text))
        run_worker(committed)
        subs = smsc.received()
        assert len(subs) == 3
        assert {s.esm_class for s in subs} == {0x40}  # UDH indicator
        udh_ref = {s.short_message[3] for s in subs}
        assert len(udh_ref) == 1
        assert [s.short_message[4:6] for s in subs] == [b"\x03\x01", b"\x03\x02", b"\x03\x03"]
        body = b"".join(s.short_message[6:] for s in subs).decode("utf-16-be")
        assert body == text
        assert [p[0] for p in parts(committed, message_id)] == [1, 2, 3]
        wait_until(
            lambda: message(committed, message_id).status == DELIVERED or _collect(committed),
            seconds=5,
            what="all three receipts",
        )
        assert sorted(receipts(committed, message_id)) == ["DELIVRD"] * 3

    def test_undeliverable_receipt_fails_the_message(self, committed, smsc, smpp_settings):
        smsc.auto_receipt_stat = "UNDELIV"
        message_id = queue(committed, _sms("hello"))
        run_worker(committed)
        wait_until(
            lambda: message(committed, message_id).status == FAILED or _collect(committed),
            seconds=5,
            what="the receipt",
        )
        assert "UNDELIV" in (message(committed, message_id).last_error or "")

    def test_receipt_sent_twice_is_stored_once(self, committed, smsc, smpp_settings):
        message_id = queue(committed, _sms("hello"))
        run_worker(committed)
        wait_until(
            lambda: bool(receipts(committed, message_id)) or _collect(committed),
            seconds=5,
            what="the receipt",
        )
        wait_until(lambda: bool(smsc.delivered_receipts), seconds=5, what="the ack")
        smsc.send_receipt(smsc.delivered_receipts[0])  # the SMSC did not see our ack
        wait_until(
            lambda: len(smsc.delivered_receipts) == 2 or _collect(committed),
            seconds=5,
            what="the second copy",
        )
        assert receipts(committed, message_id) == ["DELIVRD"]


class TestRefusals:
    def test_permanent_refusal_fails_without_retry(self, committed, smsc, smpp_settings):
        smsc.reject_status = 0x0B  # ESME_RINVDSTADR
        message_id = queue(committed, _sms("hello"))
        run_worker(committed)
        failed = message(committed, message_id)
        assert (failed.status, failed.attempts) == (FAILED, 1)
        assert "0x0b" in (failed.last_error or "")
        assert due_jobs(committed, service.DELIVER_JOB) == []

    def test_throttling_is_retried_later_with_back_off(self, committed, smsc, smpp_settings):
        smsc.reject_status = 0x58  # ESME_RTHROTTLED
        message_id = queue(committed, _sms("hello"))
        run_worker(committed)
        later = message(committed, message_id)
        assert (later.status, later.attempts) == (PENDING, 1)
        assert later.next_attempt_at is not None and later.submitted_at is None
        assert "0x58" in (later.last_error or "")
        (retry,) = due_jobs(committed, service.DELIVER_JOB)
        assert retry.run_at == later.next_attempt_at
        assert retry.payload == {"message_id": message_id}

    def test_unreachable_smsc_is_transient(self, committed, smsc, configure, smpp_settings):
        configure(**{**smpp_settings.model_dump(), "smpp_port": free_port()})
        message_id = queue(committed, _sms("hello"))
        run_worker(committed)
        later = message(committed, message_id)
        assert (later.status, later.attempts) == (PENDING, 1)
        assert "cannot be reached" in (later.last_error or "")
        assert smsc.received() == []

    def test_a_dropped_session_is_found_before_the_next_message(
        self, committed, smsc, smpp_settings
    ):
        queue(committed, _sms("first"))
        run_worker(committed)
        binds = smsc.binds
        # the connection dies while idle (an SMSC restart, a NAT timeout)
        gateway = get_gateway("smpp", smpp_settings)
        gateway._client._socket.shutdown(socket.SHUT_RDWR)
        queue(committed, _sms("second"))
        run_worker(committed)
        assert [s.short_message for s in smsc.received()] == [b"first", b"second"]
        assert smsc.binds == binds + 1
