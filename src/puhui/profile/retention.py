"""Retention of negative records: a record expires N years after its event ended and is
then retracted from what the platform shows (profile, snapshot, downloads).

The rule (decision 0016)
- A *record* is a run of consecutive observations of one negative-category indicator of
  one entity whose value is on record (a flag 1, a count or amount above zero, a
  non-empty code). A later observation off record (0, empty) ends the run; so does the
  data simply no longer reporting it.
- The *event ends* at the end of the run's last period (YYYYMM: the last day of that
  month). The data sources send no separate "cleared" date; a later zero observation
  only bounds the run, it does not move its end.
- The record expires ``retention_personal_negative_years`` after that end for an
  indicator flagged ``personal`` (at most 5: personal-information rules) and
  ``retention_enterprise_negative_years`` for the others; in month arithmetic a run
  ending in period P expires at the first instant of month P + 1 + 12 × N.
- Expiry writes one derived batch of the platform's own source that supersedes every
  observation of the expired runs with an empty value (``ingest.commit_derived``):
  the lake stays append-only, so the original is still reachable by time travel for
  audits and objections, while every read of the current state (the profile's values,
  trends and negative list, the snapshot the filters and downloads read) no longer
  sees it. The job is idempotent: a retracted run is no longer on record, so the next
  run finds nothing; the same retraction twice is one batch.

Query records and the audit chain (the security log) are never purged by this module:
the requirement for security logs is a floor (kept at least six months) and the chain's
verification needs every event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from puhui.config import Settings, get_settings
from puhui.core.lake import Lake, LakeNotFound
from puhui.ingest import service as ingest
from puhui.profile import service as profile

PLATFORM_SOURCE = "PLATFORM"


@dataclass(frozen=True)
class Expiry:
    """What one run retracted."""

    records: int  # runs (entity, indicator, first..last period) that expired
    observations: int  # lake rows superseded with an empty value
    batch_id: int | None


def month_index(period: int) -> int:
    return (period // 100) * 12 + period % 100 - 1


def expires_at_index(last_period: int, years: int) -> int:
    """The month index whose first instant expires a run ending in ``last_period``."""
    return month_index(last_period) + 1 + 12 * years


def on_record() -> pl.Expr:
    """Is an observation's value on record (the same test as the profile's list)?"""
    text = pl.col("value_text")
    return (pl.col("value_num").is_not_null() & (pl.col("value_num") != 0)) | (
        text.is_not_null() & ~text.is_in(["", "0"])
    )


def expired_observations(
    rows: pl.LazyFrame,
    *,
    personal_ids: set[int],
    enterprise_ids: set[int],
    now: datetime,
    personal_years: int,
    enterprise_years: int,
) -> pl.DataFrame:
    """The on-record observations of expired runs: ``entity_id, indicator_id, period``
    plus ``run_end``. ``rows`` are lake observations already superseded."""
    ids = sorted(personal_ids | enterprise_ids)
    now_index = now.year * 12 + now.month - 1
    pair = ["entity_id", "indicator_id"]
    ordered = (
        rows.filter(pl.col("indicator_id").is_in(ids))
        .select("entity_id", "indicator_id", "period", on_record().alias("hit"))
        .sort([*pair, "period"])
    )
    # a run starts wherever "hit" differs from the pair's previous observation
    change = (pl.col("hit") != pl.col("hit").shift(1).over(pair)).fill_null(True)
    runs = ordered.with_columns(change.cast(pl.Int32).cum_sum().over(pair).alias("run"))
    hits = runs.filter(pl.col("hit")).with_columns(
        pl.col("period").max().over([*pair, "run"]).alias("run_end")
    )
    years = (
        pl.when(pl.col("indicator_id").is_in(sorted(personal_ids)))
        .then(pl.lit(personal_years))
        .otherwise(pl.lit(enterprise_years))
    )
    end = (pl.col("run_end") // 100) * 12 + pl.col("run_end") % 100 - 1
    expired = hits.filter(end + 1 + 12 * years <= now_index)
    return (
        expired.select("entity_id", "indicator_id", "period", "run_end", "run")
        .sort(["entity_id", "indicator_id", "period"])
        .collect()
    )


def expire_negative_records(
    factory: sessionmaker[Session], *, now: datetime, settings: Settings | None = None
) -> Expiry:
    """Find every expired negative record in the lake and retract it in one batch."""
    settings = settings or get_settings()
    with factory() as session:
        metas = profile.indicator_metas(session)
    negative = [m for m in metas.values() if m.category == "negative"]
    personal_ids = {m.id for m in negative if m.personal}
    enterprise_ids = {m.id for m in negative if not m.personal}
    if not negative:
        return Expiry(records=0, observations=0, batch_id=None)
    try:
        lake = Lake(settings.lake_dir, create=False)
        rows = lake.scan()
    except LakeNotFound:
        return Expiry(records=0, observations=0, batch_id=None)
    winner = pl.col("batch_id") == pl.col("batch_id").max().over(
        ["entity_id", "indicator_id", "period"]
    )
    current = rows.filter(pl.col("indicator_id").is_in(sorted(personal_ids | enterprise_ids)))
    expired = expired_observations(
        current.filter(winner),
        personal_ids=personal_ids,
        enterprise_ids=enterprise_ids,
        now=now,
        personal_years=settings.retention_personal_negative_years,
        enterprise_years=settings.retention_enterprise_negative_years,
    )
    if expired.height == 0:
        return Expiry(records=0, observations=0, batch_id=None)
    records = expired.select("entity_id", "indicator_id", "run").n_unique()
    retraction = expired.select(
        pl.col("entity_id").cast(pl.Int32),
        pl.col("indicator_id").cast(pl.Int16),
        pl.col("period").cast(pl.Int32),
        pl.lit(None, pl.Float64).alias("value_num"),
        pl.lit(None, pl.String).alias("value_text"),
    )
    batch_id = ingest.commit_derived(
        factory,
        source_code=PLATFORM_SOURCE,
        label=f"retention-negative-records-{now:%Y%m}",
        rows=retraction,
        settings=settings,
    )
    return Expiry(records=records, observations=retraction.height, batch_id=batch_id)
