"""Tables of platform statistics.

- ``lpr_rates``: the loan prime rate (1-year and 5-year) as operators enter it, with the day
  it takes effect; the rate in force on a day is the latest entry effective on or before it.
- ``stats_monthly``: counters per (metric, month, dimension), recomputed from the domains'
  own tables by the refresh job — never typed in. A month is a calendar month in
  Asia/Shanghai, stored as the integer ``YYYYMM``.
- ``stats_grants``: one row per granted claim (the loan), copied by the refresh job with
  what the figures need (enterprise, channel, amount, rate, days from demand to grant,
  first-time flag), so that distinct counts and medians over any range of months are exact
  and cheap.
- ``stats_refreshes``: when the refresh job ran and from which month it recomputed.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from puhui.core.orm import Base, CreatedAtMixin, UTCDateTime

BIGINT = BigInteger().with_variant(Integer, "sqlite")


class LprRate(CreatedAtMixin, Base):
    __tablename__ = "lpr_rates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenor: Mapped[str] = mapped_column(String(2))  # 1y, 5y
    effective_on: Mapped[date] = mapped_column(Date)
    rate_bp: Mapped[int] = mapped_column(Integer)  # basis points: 3.45 % is 345
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (UniqueConstraint("tenor", "effective_on", name="uq_lpr_rates_tenor_day"),)


class MonthlyFigure(Base):
    __tablename__ = "stats_monthly"

    metric: Mapped[str] = mapped_column(String(24), primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)
    dim: Mapped[str] = mapped_column(String(40), primary_key=True, default="")
    value: Mapped[int] = mapped_column(BigInteger, default=0)

    # covering: the pages read every metric of a range of months from this index alone
    __table_args__ = (Index("ix_stats_monthly_month", "month", "metric", "dim", "value"),)


class GrantFact(Base):
    __tablename__ = "stats_grants"

    claim_id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=False)
    demand_id: Mapped[int] = mapped_column(BigInteger)
    entity_id: Mapped[int] = mapped_column(Integer)
    institution_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(12))
    month: Mapped[int] = mapped_column(Integer)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    days: Mapped[int] = mapped_column(Integer)  # Shanghai dates: grant day − demand day
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    rate_bp: Mapped[int | None] = mapped_column(Integer)
    first_time: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_stats_grants_month", "month"),
        Index("ix_stats_grants_entity", "entity_id", "granted_at"),
    )


class Refresh(Base):
    __tablename__ = "stats_refreshes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    since_month: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)
