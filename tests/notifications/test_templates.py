"""Templates: registered English message ids, rendered in the recipient's language."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from puhui.consent.service import APPROVED_SMS
from puhui.core import i18n
from puhui.notifications import service

KEY = "tests.approved"


@pytest.fixture(autouse=True)
def _template():
    service.register_template(KEY, subject="Messages", body=APPROVED_SMS)


class TestRegister:
    def test_same_text_twice_is_fine_a_different_text_is_refused(self):
        service.register_template(KEY, subject="Messages", body=APPROVED_SMS)
        with pytest.raises(ValueError, match="registered twice"):
            service.register_template(KEY, subject="Messages", body="other {id}")
        assert KEY in service.template_keys()

    @pytest.mark.parametrize("key", ["", "nodot", "Tests.upper", "tests.", "tests..x", "1.x"])
    def test_key_must_be_domain_dot_name(self, key):
        with pytest.raises(ValueError, match=r"domain\.name"):
            service.register_template(key, subject="", body="x")

    def test_body_is_required(self):
        with pytest.raises(ValueError, match="no body"):
            service.register_template("tests.empty", subject="s", body="")


class TestRender:
    def test_chinese_and_english(self):
        zh = service.render(KEY, {"id": 42}, "zh_CN")
        en = service.render(KEY, {"id": 42}, "en")
        assert en == ("Messages", "[Puhui] Your authorization request 42 was approved.")
        assert zh == (
            i18n.gettext("zh_CN", "Messages"),
            i18n.gettext("zh_CN", APPROVED_SMS, id=42),
        )
        assert zh != en and "42" in zh[1]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh[1])  # really Chinese

    def test_unknown_template_and_missing_parameter(self):
        with pytest.raises(ValueError, match=r"unknown notification template 'tests\.nope'"):
            service.render("tests.nope", {}, "en")
        with pytest.raises(ValueError, match="needs the parameter 'id'"):
            service.render(KEY, {}, "zh_CN")

    def test_unknown_locale_falls_back_to_the_default(self):
        assert service.render(KEY, {"id": 1}, "fr") == service.render(KEY, {"id": 1}, "zh_CN")

    @given(st.text(max_size=40))
    def test_parameters_are_data_never_format_syntax(self, value):
        _, body = service.render(KEY, {"id": value}, "en")
        assert body == f"[Puhui] Your authorization request {value} was approved."


class TestAddresses:
    @pytest.mark.parametrize("mobile", ["13800138000", "+8613800138000", " 13800138000 "])
    def test_valid_mobiles(self, mobile):
        assert service.check_mobile(mobile) == mobile.strip()

    @pytest.mark.parametrize("mobile", ["", "138", "1380013800a", "+0123456789", "1" * 16])
    def test_invalid_mobiles(self, mobile):
        with pytest.raises(service.InvalidRecipient) as err:
            service.check_mobile(mobile)
        assert err.value.status == 422 and err.value.details[0]["field"] == "mobile"

    @pytest.mark.parametrize(
        "email", ["no-at", "a@b", "a b@example.com", "a@example.com\r\nBcc: x@y.z", "a@@b.cn"]
    )
    def test_invalid_emails_including_header_injection(self, email):
        with pytest.raises(service.InvalidRecipient):
            service.check_email(email)

    def test_valid_email(self):
        assert service.check_email("li.lei@bank.example.cn") == "li.lei@bank.example.cn"
