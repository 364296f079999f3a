"""Acquisition tables: which entities opted out of marketing, and the counter that lets
every serving process notice a change of that list with one primary-key read."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from puhui.core.orm import Base, CreatedAtMixin


class MarketingOptOut(CreatedAtMixin, Base):
    """An entity that does not want to be found by marketing filters (personal-information
    law Art. 24). The row exists while the opt-out holds; opting back in deletes it (the
    audit chain keeps the history)."""

    __tablename__ = "marketing_optouts"

    entity_id: Mapped[int] = mapped_column(
        ForeignKey("entities.id"), primary_key=True, autoincrement=False
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class MarketingState(Base):
    """One row, bumped in the same transaction as every opt-out change: the filter's
    cached exclusion mask is rebuilt when ``token`` differs from the one it was built at."""

    __tablename__ = "marketing_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer, default=0)
    # random per write: a rolled-back write's version number may be reused, its token never
    token: Mapped[str] = mapped_column(String(32), default="")
