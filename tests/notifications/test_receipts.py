"""The delivery receipt parser (SMPP 3.4 Appendix B text and the message_state TLV)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from puhui.notifications.channels.receipts import (
    ReceiptFormatError,
    ReceiptText,
    format_receipt_text,
    parse_receipt_text,
)
from puhui.notifications.channels.smpp import receipt_from_pdu

STANDARD = (
    "id:0123456789 sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 "
    "stat:DELIVRD err:000 text:您好 stat:FAKE"
)


# hypothesis wants naive bounds; the values are made UTC below
EARLIEST = datetime(2001, 1, 1)  # noqa: DTZ001
LATEST = datetime(2068, 12, 31)  # noqa: DTZ001


class TestParse:
    def test_standard_receipt(self):
        r = parse_receipt_text(STANDARD)
        assert (r.id, r.stat, r.sub, r.dlvrd, r.err) == (
            "0123456789",
            "DELIVRD",
            "001",
            "001",
            "000",
        )
        assert r.submit_date == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        assert r.done_date == datetime(2026, 1, 1, 12, 1, tzinfo=UTC)
        assert r.text == "您好 stat:FAKE"  # free text is not parsed
        assert r.outcome == "delivered"

    def test_variants_seen_in_the_wild(self):
        r = parse_receipt_text(b"ID:abc-1 Stat:undeliv Err:012 done date:260101120059")
        assert (r.id, r.stat, r.err, r.outcome) == ("abc-1", "UNDELIV", "012", "failed")
        assert r.done_date == datetime(2026, 1, 1, 12, 0, 59, tzinfo=UTC)
        assert parse_receipt_text("id:1 stat:ENROUTE").outcome is None
        assert parse_receipt_text("id:1 stat:ACCEPTD done date:9913999999").done_date is None

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "hello world",
            "stat:DELIVRD",  # no id
            "id:1",  # no stat
            "id:1 stat:",  # empty stat
            "id: stat:DELIVRD",
            "id:1 stat:DELIVRD1",
            "junk id:1 stat:DELIVRD",
            "id:1 id:2 stat:DELIVRD",
            "id:1 stat:" + "X" * 9,
        ],
    )
    def test_not_a_receipt(self, text):
        with pytest.raises(ReceiptFormatError):
            parse_receipt_text(text)

    def test_non_ascii_bytes_are_refused(self):
        with pytest.raises(ReceiptFormatError, match="ASCII"):
            parse_receipt_text("id:1 stat:DELIVRD 中".encode())

    @given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
    def test_any_input_parses_or_raises_receipt_format_error(self, raw):
        try:
            r = parse_receipt_text(raw)
        except ReceiptFormatError:
            return
        assert r.id and r.stat.isupper() and len(r.stat) <= 8

    @given(
        ident=st.text(
            alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=64
        ).filter(lambda s: ":" not in s),
        stat=st.sampled_from(
            ["DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD", "ENROUTE"]
        ),
        done=st.datetimes(min_value=EARLIEST, max_value=LATEST).map(
            lambda d: d.replace(second=0, microsecond=0, tzinfo=UTC)
        ),
        err=st.from_regex(r"\A[0-9]{3}\Z"),
        text=st.text(max_size=20).filter(lambda s: s.isascii()),
    )
    def test_format_then_parse_round_trips(self, ident, stat, done, err, text):
        original = ReceiptText(
            id=ident,
            stat=stat,
            sub="001",
            dlvrd="001",
            submit_date=done,
            done_date=done,
            err=err,
            text=text,
        )
        assert parse_receipt_text(format_receipt_text(original)) == original


def _pdu(**fields):
    base = {
        "esm_class": 0x04,
        "short_message": b"",
        "receipted_message_id": None,
        "message_state": None,
        "source_addr": b"13800138000",
        "user_message_reference": None,
    }
    return SimpleNamespace(**{**base, **fields})


class TestFromPdu:
    def test_tlvs_win_over_the_text(self):
        r = receipt_from_pdu(
            _pdu(
                short_message=b"id:TEXT stat:UNDELIV err:001",
                receipted_message_id=b"TLV",
                message_state=2,
                user_message_reference=7,
            )
        )
        assert (r.gateway_ref, r.stat, r.error_code, r.user_reference) == (
            "TLV",
            "DELIVRD",
            "001",
            7,
        )
        assert r.destination == "13800138000"

    def test_text_only(self):
        r = receipt_from_pdu(_pdu(short_message=STANDARD.encode("utf-8").split(b" text:")[0]))
        assert (r.gateway_ref, r.stat) == ("0123456789", "DELIVRD")

    def test_a_mobile_originated_message_is_not_a_receipt(self):
        assert receipt_from_pdu(_pdu(esm_class=0, short_message=b"id:1 stat:DELIVRD")) is None

    def test_an_unreadable_receipt_is_ignored(self):
        assert receipt_from_pdu(_pdu(short_message=b"garbage")) is None
