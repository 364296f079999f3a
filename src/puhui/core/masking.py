"""Masking of personal data for display: ID numbers ``330203********1234``, mobiles
``138****5678``, personal names ``张*``. Which viewer sees what unmasked is decided by the
caller; these functions only shape the value."""

from __future__ import annotations

import re
from typing import Any


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


# --- who sees what ------------------------------------------------------------------------

SHAPES = {"id_number": mask_id_number, "mobile": mask_mobile, "name": mask_name}


def mask_text(value: str | None) -> str:
    """A personal value of no known shape: its first and last characters."""
    if not value:
        return ""
    if len(value) <= 2:
        return "*" * len(value)
    return f"{value[0]}{'*' * (len(value) - 2)}{value[-1]}"


def masked(shape: str | None, value: str | None) -> str:
    """``value`` masked as its shape (``id_number``, ``mobile``, ``name``) asks."""
    return SHAPES.get(shape or "", mask_text)(value)


def must_mask(sensitivity: str, personal: bool, *, own: bool, revealed: bool) -> bool:
    """The one masking rule (DESIGN.md §4), a function of the viewer and the field.

    A field that is personal information, or of sensitivity C3, is masked for every viewer
    except the entity itself and a viewer whose role may reveal it and who gave a reason
    (``revealed``; the caller audits that view). Public, C1 and C2 fields that are not
    personal are shown to whoever the consent scope let read them."""
    if own:
        return False
    if personal or sensitivity == "C3":
        return not revealed
    return False


# --- personal numbers inside free text ------------------------------------------------------

_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])")
_MOBILE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number_checks(value: str) -> bool:
    """The check character of an 18-character resident ID number (GB 11643) is right."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == value[17].upper()


def mask_personal_numbers(text: str) -> str:
    """``text`` with every resident ID number (its check character right: an all-digit
    code of another kind is left alone) and every mainland mobile number masked."""
    text = _ID_IN_TEXT.sub(
        lambda m: mask_id_number(m.group()) if id_number_checks(m.group()) else m.group(), text
    )
    return _MOBILE_IN_TEXT.sub(lambda m: mask_mobile(m.group()), text)


def mask_personal_in(value: Any) -> Any:
    """:func:`mask_personal_numbers` over every string of a JSON-like value (keys too)."""
    if isinstance(value, str):
        return mask_personal_numbers(value)
    if isinstance(value, dict):
        return {mask_personal_in(k): mask_personal_in(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_personal_in(v) for v in value]
    return value
