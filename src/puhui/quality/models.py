"""Rollups of the service-quality and coverage figures, recomputed by the refresh job
(hourly, or when an operator asks) from the matching and registry tables, so that the
pages read a few thousand small rows instead of sorting every claim (decision 0021,
"Rollups").

- ``quality_service_months``: per institution and month the claim was made (Asia/Shanghai,
  ``YYYY-MM``): the league's counts as of the refresh.
- ``quality_medians``: the exact median contact hours (the mean of the one or two middle
  contact times) of each group a page shows: ``m`` an institution in a month, ``p`` the
  platform in a month (institution 0), ``w`` an institution over the window of months
  starting at ``month`` (one row per month the institution has contacts in).
- ``quality_first_loans``: entities by district, industry section and month of their
  first grant.
- ``quality_places``: active registered entities by district and industry section.
- ``quality_refreshes``: when the rollups were computed (their "as of").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from puhui.core.orm import Base, UTCDateTime


class ServiceMonth(Base):
    __tablename__ = "quality_service_months"

    institution_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    claims: Mapped[int] = mapped_column(Integer)
    active: Mapped[int] = mapped_column(Integer)
    in_sla: Mapped[int] = mapped_column(Integer)
    contact_known: Mapped[int] = mapped_column(Integer)
    granted: Mapped[int] = mapped_column(Integer)
    overdue: Mapped[int] = mapped_column(Integer)
    rating_sum: Mapped[int] = mapped_column(BigInteger)
    ratings: Mapped[int] = mapped_column(Integer)
    complaints: Mapped[int] = mapped_column(Integer)


class Median(Base):
    __tablename__ = "quality_medians"

    scope: Mapped[str] = mapped_column(String(1), primary_key=True)
    institution_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    hours: Mapped[float] = mapped_column(Float(precision=53))


class FirstLoans(Base):
    __tablename__ = "quality_first_loans"

    district: Mapped[str] = mapped_column(String(6), primary_key=True)
    section: Mapped[str] = mapped_column(String(1), primary_key=True)  # "" = unknown
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    entities: Mapped[int] = mapped_column(Integer)


class Place(Base):
    __tablename__ = "quality_places"

    district: Mapped[str] = mapped_column(String(6), primary_key=True)
    section: Mapped[str] = mapped_column(String(1), primary_key=True)  # "" = unknown
    entities: Mapped[int] = mapped_column(Integer)


class Refresh(Base):
    __tablename__ = "quality_refreshes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rows: Mapped[int] = mapped_column(Integer)
