"""Catalog tables. Indicator ids are dense small integers, stable for a code across catalog
versions (the lake and the snapshot store ids, not codes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from puhui.core.orm import Base, UTCDateTime, utcnow


class Indicator(Base):
    __tablename__ = "indicators"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    category: Mapped[str] = mapped_column(String(24))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(200))
    definition: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(String(24))
    value_type: Mapped[str] = mapped_column(String(10))
    allowed_values: Mapped[list[str]] = mapped_column(JSON, default=list)
    min_value: Mapped[float | None] = mapped_column(Float)
    max_value: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(12))
    frequency: Mapped[str] = mapped_column(String(12))
    time_series: Mapped[bool] = mapped_column(Boolean)
    sensitivity: Mapped[str] = mapped_column(String(8))
    personal: Mapped[bool] = mapped_column(Boolean)
    is_key: Mapped[bool] = mapped_column(Boolean)
    is_warning: Mapped[bool] = mapped_column(Boolean)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)
    catalog_version: Mapped[int] = mapped_column(Integer)

    def as_dict(self) -> dict[str, Any]:
        return {c.name: getattr(self, c.name) for c in self.__table__.columns}


class CatalogVersion(Base):
    __tablename__ = "catalog_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sha256: Mapped[str] = mapped_column(String(64))
    indicators: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
