"""PSI tables: the sessions a lender opens, and which institutions the platform allows to
learn *which* of their items are in a filtered set (not only how many).

A session stores its filter, mode and sizes, never an item of either side nor key
material: the server's scalar is derived from the platform secret and ``nonce``, and the
nonce is erased when the session is used or expires, so the scalar is gone with it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from puhui.core.orm import Base, CreatedAtMixin, UTCDateTime

OPEN = "open"
DONE = "done"
EXPIRED = "expired"


class PsiSession(CreatedAtMixin, Base):
    __tablename__ = "psi_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    mode: Mapped[str] = mapped_column(String(10))  # count | which
    filter: Mapped[dict[str, object]] = mapped_column(JSON)
    filter_summary: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(10), default=OPEN)
    nonce: Mapped[str | None] = mapped_column(String(64))
    client_items: Mapped[int | None] = mapped_column(Integer)
    server_items: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_psi_sessions_institution", "institution_id", "created_at"),)

    def is_open(self, now: datetime) -> bool:
        return self.status == OPEN and self.expires_at > now


class PsiGrant(CreatedAtMixin, Base):
    """The institution may run *which*-mode sessions (granted by an operator)."""

    __tablename__ = "psi_grants"

    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institutions.id"), primary_key=True, autoincrement=False
    )
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
