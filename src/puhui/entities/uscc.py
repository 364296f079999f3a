"""Unified social credit codes (统一社会信用代码, GB 32100-2015).

18 characters from ``0123456789ABCDEFGHJKLMNPQRTUWXY`` (values 0-30). Position 1 is the
registration authority, 2 the category, 3-8 the administrative division, 9-17 the
organisation code and 18 the check character:
``check = (31 - Σ value(i) × 3^(i-1) mod 31) mod 31`` over positions 1-17.

Input typed by people is normalised first (spaces and hyphens dropped, full-width
characters folded, lower case raised); codes typed by users must then be valid.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALUES = {c: i for i, c in enumerate(ALPHABET)}
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
LENGTH = 18


class EntityKind(StrEnum):
    ENTERPRISE = "enterprise"
    INDIVIDUAL_BUSINESS = "individual_business"
    COOPERATIVE = "cooperative"
    OTHER = "other"


class InvalidUSCC(ValueError):
    """Why a code is not a valid USCC; ``reason`` is an English message id."""

    def __init__(self, reason: str, **params: object) -> None:
        self.reason = reason
        self.params = params
        super().__init__(reason.format(**params) if params else reason)


def normalize(raw: str) -> str:
    """Fold full-width characters, drop spaces and hyphens, raise case."""
    folded = unicodedata.normalize("NFKC", raw)
    return "".join(ch for ch in folded if not ch.isspace() and ch != "-").upper()


def check_character(first17: str) -> str:
    total = sum(VALUES[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def validate(raw: str) -> str:
    """Return the normalised code, or raise :class:`InvalidUSCC` saying what is wrong."""
    code = normalize(raw)
    if len(code) != LENGTH:
        raise InvalidUSCC("A USCC has 18 characters; this one has {n}.", n=len(code))
    for position, ch in enumerate(code, start=1):
        if ch not in VALUES:
            raise InvalidUSCC(
                "Character {char} at position {position} is not allowed in a USCC.",
                char=ch,
                position=position,
            )
    if not code[2:8].isdigit():
        raise InvalidUSCC("Positions 3 to 8 of a USCC are an administrative division code.")
    expected = check_character(code[:17])
    if code[17] != expected:
        raise InvalidUSCC("The check character of this USCC is wrong.")
    return code


def is_valid(raw: str) -> bool:
    try:
        validate(raw)
    except InvalidUSCC:
        return False
    return True


def kind_of(code: str) -> EntityKind:
    if code[0] == "9":
        return {
            "1": EntityKind.ENTERPRISE,
            "2": EntityKind.INDIVIDUAL_BUSINESS,
            "3": EntityKind.COOPERATIVE,
        }.get(code[1], EntityKind.OTHER)
    return EntityKind.OTHER


def division_of(code: str) -> str:
    return code[2:8]


def make(first17: str) -> str:
    """Complete 17 characters with their check character."""
    if len(first17) != 17 or any(c not in VALUES for c in first17):
        raise ValueError("need 17 USCC characters")
    return first17 + check_character(first17)


def only_check_character_wrong(code: str) -> bool:
    """True for a normalised code whose every fault is its check character (such codes were
    issued in the wild; records from an official source carrying them are kept, flagged)."""
    return (
        len(code) == LENGTH
        and all(c in VALUES for c in code)
        and code[2:8].isdigit()
        and code[17] != check_character(code[:17])
    )
