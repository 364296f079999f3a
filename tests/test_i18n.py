"""Every message the platform can show has a Simplified Chinese translation (the default
locale), and every code shown in the UI has an English label."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import i18n as tool

from puhui.core import i18n


class TestCatalogs:
    def test_every_message_has_a_chinese_translation(self):
        assert tool.missing("zh_CN") == []

    def test_every_code_has_an_english_label(self):
        assert tool.missing("en") == []

    def test_no_translation_is_unused(self):
        ids = set(tool.extract())
        stale = [m for m in i18n.catalog("zh_CN") if m not in ids]
        assert stale == [], "run `make messages`"

    def test_placeholders_match(self):
        for locale in i18n.LOCALES:
            for msgid, text in i18n.catalog(locale).items():
                assert set(re.findall(r"{(\w+)}", msgid)) == set(re.findall(r"{(\w+)}", text)), (
                    msgid
                )

    def test_fallback_and_formatting(self):
        assert i18n.gettext("zh_CN", "Welcome, {name}", name="张三") == "欢迎，张三"
        assert i18n.gettext("en", "Welcome, {name}", name="Zhang") == "Welcome, Zhang"
        assert i18n.gettext("zh_CN", "no such message id") == "no such message id"

    def test_accept_language(self):
        assert i18n.locale_from_accept_language("en-GB,en;q=0.8") == "en"
        assert i18n.locale_from_accept_language("zh-CN,zh;q=0.9") == "zh_CN"
        assert i18n.locale_from_accept_language("fr-FR") == "zh_CN"
        assert i18n.locale_from_accept_language(None) == "zh_CN"


class TestPagesSpeakBothLanguages:
    def test_login_page_is_chinese_by_default_and_english_on_request(self, client):
        assert "登录" in client.get("/login").text
        r = client.get("/lang/en?next=/login", follow_redirects=True)
        assert r.status_code == 200 and "Log in" in r.text and "登录" not in r.text
        client.get("/lang/zh_CN?next=/login")
        assert "登录" in client.get("/login").text
