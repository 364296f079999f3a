"""The entity registry: one row per market entity, with a dense integer id that the lake
and the snapshot use in place of the 18-character code."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, validates

from puhui.core.orm import Base, UTCDateTime, utcnow
from puhui.core.security.fields import EncryptedString, blind_index

LEGAL_REP_NAME_PURPOSE = "entities.legal_rep_name"
LEGAL_REP_ID_PURPOSE = "entities.legal_rep_id"


class Entity(Base):
    __tablename__ = "entities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    uscc_check_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(24))
    district: Mapped[str] = mapped_column(String(6))
    industry_section: Mapped[str | None] = mapped_column(String(1))
    industry_division: Mapped[str | None] = mapped_column(String(2))
    registered_capital: Mapped[Decimal | None] = mapped_column(Numeric(20, 2))
    established: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # the legal representative's name (C2) and resident ID number (C3), SM4-GCM encrypted
    legal_rep_name: Mapped[str | None] = mapped_column(EncryptedString(LEGAL_REP_NAME_PURPOSE))
    legal_rep_id: Mapped[str | None] = mapped_column(EncryptedString(LEGAL_REP_ID_PURPOSE))
    # HMAC-SM3 blind index of the ID number: the entities a person represents, no decryption
    legal_rep_id_bidx: Mapped[str | None] = mapped_column(String(64))
    source_batch_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_entities_district", "district"),
        Index("ix_entities_legal_rep_id_bidx", "legal_rep_id_bidx"),
        # inclusive-finance coverage counts active entities by place from this index alone
        Index("ix_entities_coverage", "status", "district", "industry_section"),
    )

    @validates("legal_rep_id")
    def _index_legal_rep_id(self, key: str, value: str | None) -> str | None:
        self.legal_rep_id_bidx = blind_index(LEGAL_REP_ID_PURPOSE, value)
        return value


class RegistryState(Base):
    """A one-row counter bumped in the same transaction as every registry write, so that
    serving processes notice a change with one primary-key read."""

    __tablename__ = "registry_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, default=0)
    # random per write: a rolled-back write's version number may be reused, its token never
    token: Mapped[str] = mapped_column(String(32), default="")
