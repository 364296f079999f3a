from __future__ import annotations

import json
import logging

from hypothesis import given
from hypothesis import strategies as st

from puhui.core.logging import JsonFormatter, RedactingFilter, redact

ID_NUMBER = "330203199001011234"
MOBILE = "13812345678"


class TestRedaction:
    def test_id_numbers_mobiles_and_emails_are_masked(self):
        text = redact(f"user {ID_NUMBER} called from {MOBILE} mail zhang.san@example.com")
        assert ID_NUMBER not in text and MOBILE not in text and "zhang.san@" not in text
        assert "330203********1234" in text and "138****5678" in text

    @given(st.from_regex(r"1[3-9]\d{9}", fullmatch=True), st.text(alphabet="abc ,:", max_size=10))
    def test_no_mobile_survives(self, mobile, filler):
        assert mobile not in redact(f"{filler}{mobile}{filler}")

    def test_json_records_carry_no_personal_data_even_in_extra_fields(self):
        record = logging.LogRecord("t", logging.INFO, __file__, 1, "sent to %s", (MOBILE,), None)
        record.recipient = MOBILE
        record.payload = {"id_number": ID_NUMBER}
        assert RedactingFilter().filter(record)
        line = JsonFormatter().format(record)
        assert MOBILE not in line and ID_NUMBER not in line
        data = json.loads(line)
        assert data["message"] == "sent to 138****5678" and data["level"] == "info"

    def test_log_channel_masks_the_recipient(self, caplog):
        from puhui.notifications.channels import Envelope, LogGateway

        logger = logging.getLogger("puhui.notifications")
        logger.addFilter(RedactingFilter())
        try:
            with caplog.at_level(logging.INFO, logger="puhui.notifications"):
                LogGateway().send(
                    Envelope(
                        message_id=1,
                        reference="m1",
                        channel="sms",
                        recipient=MOBILE,
                        subject="",
                        body="code 123456",
                    )
                )
        finally:
            logger.filters.clear()
        assert MOBILE not in caplog.text and "123456" in caplog.text
