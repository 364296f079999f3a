"""Masking of personal data for display: ID numbers ``330203********1234``, mobiles
``138****5678``, personal names ``张*``. Which viewer sees what unmasked is decided by the
caller; these functions only shape the value."""

from __future__ import annotations


def mask_mobile(value: str | None) -> str:
    if not value:
        return ""
    digits = value.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_id_number(value: str | None) -> str:
    if not value:
        return ""
    v = value.strip()
    if len(v) < 10:
        return "*" * len(v)
    return f"{v[:6]}{'*' * (len(v) - 10)}{v[-4:]}"


def mask_name(value: str | None) -> str:
    if not value:
        return ""
    return value[0] + "*" * max(1, len(value) - 1)
