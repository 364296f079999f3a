"""Identity-verification fixtures: an entity whose registry names a legal representative,
its enterprise account (not verified), an operator, and real little photos."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from puhui.accounts.models import User
from puhui.config import Settings, get_settings
from puhui.core.orm import utcnow
from puhui.core.policy import Actor, InstitutionKind, Role
from puhui.entities import service as entities
from puhui.verification.schemas import ID_CHECK, ID_WEIGHTS
from tests import factories
from tests.entities.factories import record


def valid_id(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True))
    return first17 + ID_CHECK[total % 11]


REP_NAME = "王建国"
REP_ID = valid_id("33020319800512123")
OTHER_ID = valid_id("33020319800512456")


def png(width: int = 240, height: int = 240, shade: int = 0x80) -> bytes:
    """A real (grey) PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + bytes([shade]) * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg(width: int = 320, height: int = 240) -> bytes:
    """The frame of a baseline JPEG (markers and a frame header)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return (
        b"\xff\xd8"
        + app0
        + sof
        + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
        + b"\x00" * 64
        + b"\xff\xd9"
    )


@dataclass
class Town:
    uscc: str
    ent: User
    operator: User
    ent_actor: Actor
    op_actor: Actor


@pytest.fixture
def town(session) -> Town:
    rec = record("甬城精工有限公司", legal_rep_name=REP_NAME, legal_rep_id=REP_ID)
    entities.upsert(session, [rec])
    platform = factories.institution(session, factories.KIND_FOR_ROLE[Role.OPERATOR])
    ent = factories.user(session, Role.ENTERPRISE, mobile="13700001111", verified=False)
    ent.entity_uscc = rec.uscc
    operator = factories.user(session, Role.OPERATOR, platform)
    session.flush()
    return Town(
        uscc=rec.uscc,
        ent=ent,
        operator=operator,
        ent_actor=Actor(
            user_id=ent.id, username=ent.username, role=Role.ENTERPRISE, entity_uscc=rec.uscc
        ),
        op_actor=Actor(  # a reviewer who checked their authenticator a moment ago
            user_id=operator.id,
            username=operator.username,
            role=Role.OPERATOR,
            institution_id=platform.id,
            institution_kind=InstitutionKind.PLATFORM,
            second_factor_at=utcnow(),
        ),
    )


@pytest.fixture
def configured(monkeypatch) -> Iterator[callable]:
    """Change settings for the app and the services alike; restored afterwards."""

    def apply(**values: str) -> Settings:
        for key, value in values.items():
            monkeypatch.setenv(f"PUHUI_{key.upper()}", value)
        get_settings.cache_clear()
        return get_settings()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()
