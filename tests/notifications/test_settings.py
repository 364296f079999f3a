"""The notification settings refuse configurations that cannot work."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from puhui.config import Settings

SECRET = "x" * 40


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for key in [k for k in os.environ if k.startswith("PUHUI_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_the_development_gateways():
    s = Settings(env="test", secret_key=SECRET, argon2_memory_kib=1024)
    assert (s.sms_gateway, s.email_gateway, s.sms_per_number_per_hour) == ("log", "log", 10)


def test_smpp_needs_a_system_id_and_a_sender():
    with pytest.raises(ValidationError, match="PUHUI_SMPP_SYSTEM_ID"):
        Settings(env="development", sms_gateway="smpp", smpp_system_id="puhui")
    ok = Settings(
        env="development", sms_gateway="smpp", smpp_system_id="puhui", smpp_source_addr="1069"
    )
    assert ok.smpp_port == 2775


def test_smpp_limits_of_the_protocol():
    with pytest.raises(ValidationError):
        Settings(env="development", smpp_password="longer-than-8")
    with pytest.raises(ValidationError):
        Settings(env="development", sms_gateway="fax")


def test_lease_must_outlast_the_gateway_timeouts():
    with pytest.raises(ValidationError, match="LEASE"):
        Settings(env="development", notification_lease_seconds=30, smtp_timeout_seconds=10)
    assert Settings(env="development", notification_lease_seconds=40).smtp_timeout_seconds == 10


def test_from_the_environment(monkeypatch):
    monkeypatch.setenv("PUHUI_SMTP_SECURITY", "starttls")
    monkeypatch.setenv("PUHUI_SMS_PER_NUMBER_PER_HOUR", "3")
    s = Settings(env="development")
    assert (s.smtp_security, s.sms_per_number_per_hour) == ("starttls", 3)
