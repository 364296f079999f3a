"""Batch downloads of watched entities' indicators: signed, SM4-encrypted packages.

Invariants
- An entity is included only if it is on the institution's watchlist *and* a live
  authorization of the institution for purpose ``download`` covers the category of at
  least one chosen indicator, checked in this request through
  ``consent.authorize_institution``: a revoked authorization stops the next download at
  once. Every other chosen entity is listed in ``skipped`` with the reason; none is
  silently left out or silently included. Indicators outside the covered categories are
  left out for that entity.
- Personal and C3 indicators are masked (``core.masking.must_mask``, never revealed in a
  download): text gets the profile's masked shape, numbers become empty; ``masked`` says so.
- The daily row quota (``PUHUI_DOWNLOAD_DAILY_ROWS``, per institution, Shanghai day) is
  taken with one conditional UPDATE before anything is written: a download that does not
  fit is refused whole.
- Each included entity gets one query record (kind ``download``) with its audit event,
  and the download itself one audit event, all in the caller's transaction.
- The content key is returned once and never stored; the stored package can be fetched
  again until ``expires_at``, and only while every included entity's download
  authorization is still live.
"""

from __future__ import annotations

import io
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy.orm import Session

from puhui.audit import service as audit
from puhui.catalog import service as catalog
from puhui.config import Settings, get_settings
from puhui.consent import service as consent
from puhui.consent.errors import ConsentRequired
from puhui.core.i18n import N_, gettext
from puhui.core.lake import Lake
from puhui.core.masking import masked, must_mask
from puhui.core.orm import utcnow
from puhui.core.pagination import Page, PageParams, paginate
from puhui.core.policy import LENDING_KINDS, Actor
from puhui.core.security.lake_fields import LakeFields
from puhui.core.security.platform_key import load_signing_key
from puhui.core.security.sm import SM4_KEY_SIZE, Sm2PrivateKey
from puhui.entities import service as entities
from puhui.ingest import service as ingest
from puhui.monitoring import package, repository
from puhui.monitoring.errors import (
    DownloadExpired,
    DownloadNotFound,
    DownloadQuotaExceeded,
    InvalidMonitoringInput,
    NotALender,
    NothingToDownload,
)
from puhui.monitoring.models import Download
from puhui.monitoring.schemas import (
    MAX_DOWNLOAD_PERIODS,
    DownloadCreate,
    DownloadRead,
    DownloadSkip,
    PeriodRange,
)
from puhui.objections import service as objections
from puhui.profile.service import SHAPES

QUERY_KIND = "download"
PURGE_JOB = "monitoring.purge_downloads"
SHANGHAI = ZoneInfo("Asia/Shanghai")
SKIP_REASONS = {
    "unknown": N_("not in the registry"),
    "not_watched": N_("not on your watchlist"),
    "none": N_("no download authorization"),
    "requested": N_("download authorization requested, not yet granted"),
    "expired": N_("download authorization expired"),
    "revoked": N_("download authorization revoked"),
    "not_started": N_("download authorization not started yet"),
    "wrong_purpose": N_("no authorization for the download purpose"),
    "out_of_scope": N_("the authorization covers none of the chosen indicators"),
}
SCHEMA = {
    "uscc": pl.String,
    "name": pl.String,
    "indicator": pl.String,
    "period": pl.Int32,
    "value_num": pl.Float64,
    "value_text": pl.String,
    "unit": pl.String,
    "masked": pl.Boolean,  # a personal or C3 value, masked
    "under_objection": pl.Boolean,  # the enterprise disputes this value (an open objection)
}
COLUMNS = tuple(SCHEMA)


@dataclass(frozen=True)
class Created:
    download: Download
    key: bytes
    skipped: list[DownloadSkip]


def _institution_of(actor: Actor) -> int:
    if actor.institution_id is None or actor.institution_kind not in LENDING_KINDS:
        raise NotALender()
    return actor.institution_id


def open_lake(settings: Settings) -> Lake:
    return ingest.open_lake(settings)


def signer(settings: Settings) -> Sm2PrivateKey:
    return load_signing_key(settings.signing_key_path)


# --- validating the request ----------------------------------------------------------------


def _valid_period(value: int, field: str) -> int:
    if not 190001 <= value <= 299912 or not 1 <= value % 100 <= 12:
        raise InvalidMonitoringInput.at(
            field, N_("{value} is not a period: write YYYYMM, e.g. 202403."), value=value
        )
    return value


def periods_of(spec: PeriodRange | list[int]) -> list[int]:
    """The sorted YYYYMM periods of a list or an inclusive ``{from, to}`` range."""
    if isinstance(spec, PeriodRange):
        start = _valid_period(spec.start, "periods.from")
        end = _valid_period(spec.end, "periods.to")
        if end < start:
            raise InvalidMonitoringInput.at(
                "periods.to", N_("The end period comes before the start period.")
            )
        months = (end // 100 - start // 100) * 12 + end % 100 - start % 100 + 1
        if months > MAX_DOWNLOAD_PERIODS:
            raise InvalidMonitoringInput.at(
                "periods",
                N_("At most {limit} periods in one download."),
                limit=MAX_DOWNLOAD_PERIODS,
            )
        out, y, m = [], start // 100, start % 100
        for _ in range(months):
            out.append(y * 100 + m)
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out
    if not spec:
        raise InvalidMonitoringInput.at("periods", N_("Choose at least one period."))
    if len(spec) > MAX_DOWNLOAD_PERIODS:
        raise InvalidMonitoringInput.at(
            "periods", N_("At most {limit} periods in one download."), limit=MAX_DOWNLOAD_PERIODS
        )
    return sorted({_valid_period(v, f"periods[{i}]") for i, v in enumerate(spec)})


def _indicators(session: Session, codes: list[str]) -> list[Any]:
    by_code = {i.code: i for i in catalog.active_indicators(session)}
    out, seen = [], set()
    for i, raw in enumerate(codes):
        code = raw.strip().upper()
        if code in seen:
            continue
        found = by_code.get(code)
        if found is None:
            raise InvalidMonitoringInput.at(
                f"indicators[{i}]", N_("{code} is not an indicator of the catalog."), code=raw
            )
        seen.add(code)
        out.append(found)
    return out


def _skip(uscc: str, reason: str, locale: str) -> DownloadSkip:
    return DownloadSkip(uscc=uscc, reason=reason, message=gettext(locale, SKIP_REASONS[reason]))


def _targets(
    session: Session, institution_id: int, usccs: list[str] | None, locale: str
) -> tuple[list[int], list[DownloadSkip]]:
    """The watched entity ids asked for, and the asked-for codes that are not watched."""
    watched = repository.watched_ids_of(session, institution_id)
    if usccs is None:
        return watched, []
    skipped: list[DownloadSkip] = []
    normal: list[str] = []
    for i, raw in enumerate(usccs):
        try:
            code, _ = entities.official_code(raw)
        except entities.InvalidUSCC as exc:
            raise InvalidMonitoringInput.at(f"usccs[{i}]", exc.reason, **exc.params) from exc
        if code not in normal:
            normal.append(code)
    ids = entities.ids_for(session, normal)
    on_list = set(watched)
    wanted: list[int] = []
    for code in normal:
        entity_id = ids.get(code)
        if entity_id is None:
            skipped.append(_skip(code, "unknown", locale))
        elif entity_id not in on_list:
            skipped.append(_skip(code, "not_watched", locale))
        else:
            wanted.append(entity_id)
    return sorted(wanted), skipped


# --- building ------------------------------------------------------------------------------


def _rows(
    lake: Lake,
    sealed: LakeFields,
    included: list[tuple[int, str, str, frozenset[str]]],
    indicators: list[Any],
    periods: list[int],
    disputed: set[tuple[int, int, int]],
) -> pl.DataFrame:
    by_id = {i.id: i for i in indicators}
    frames = []
    for entity_id, uscc, name, categories in included:
        ids = [i.id for i in indicators if i.category in categories]
        rows = lake.history(entity_id, ids).filter(
            pl.col("period").is_in(periods)
            # a value retracted (an expired negative record, superseded with nothing) or
            # never reported: not a row of the package
            & (pl.col("value_num").is_not_null() | pl.col("value_text").is_not_null())
        )
        if rows.height == 0:
            continue
        frames.append(
            rows.select(
                "entity_id", "indicator_id", "period", "value_num", "value_text"
            ).with_columns(pl.lit(uscc).alias("uscc"), pl.lit(name).alias("name"))
        )
    if not frames:
        return pl.DataFrame(schema=SCHEMA)
    # personal text values are stored sealed: clear here, once for all, masked below
    rows = sealed.reveal(pl.concat(frames))
    records: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for r in rows.iter_rows(named=True):
        meta = by_id[int(r["indicator_id"])]
        num, text = r["value_num"], r["value_text"]
        hide = (num is not None or text is not None) and must_mask(
            meta.sensitivity, meta.personal, own=False, revealed=False
        )
        if hide:
            num = None
            text = None if text is None else masked(SHAPES.get(meta.code), str(text))
        records["uscc"].append(r["uscc"])
        records["name"].append(r["name"])
        records["indicator"].append(meta.code)
        records["period"].append(int(r["period"]))
        records["value_num"].append(num)
        records["value_text"].append(text)
        records["unit"].append(meta.unit)
        records["masked"].append(hide)
        records["under_objection"].append(
            (int(r["entity_id"]), int(r["indicator_id"]), int(r["period"])) in disputed
        )
    return pl.DataFrame(
        records,
        schema=SCHEMA,
    ).sort(["uscc", "indicator", "period"])


def _serialise(frame: pl.DataFrame, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "parquet":
        frame.write_parquet(out, compression="zstd")
    else:
        frame.write_csv(out)
    return out.getvalue()


def create(
    session: Session,
    *,
    actor: Actor,
    data: DownloadCreate,
    locale: str = "zh_CN",
    settings: Settings | None = None,
    lake: Lake | None = None,
    now: datetime | None = None,
) -> Created:
    """Check, read, mask, count against the quota, pack, encrypt, sign, store and record."""
    settings = settings or get_settings()
    now = now or utcnow()
    institution_id = _institution_of(actor)
    indicators = _indicators(session, data.indicators)
    periods = periods_of(data.periods)
    entity_ids, skipped = _targets(session, institution_id, data.usccs, locale)
    briefs = entities.briefs(session, entity_ids)
    wanted_categories = {i.category for i in indicators}
    included: list[tuple[int, str, str, frozenset[str]]] = []
    scopes: dict[int, consent.ReadScope] = {}
    for entity_id in entity_ids:
        uscc, name = briefs[entity_id]
        try:
            scope = consent.authorize_institution(
                session,
                institution_id=institution_id,
                entity_id=entity_id,
                uscc=uscc,
                purpose=consent.Purpose.DOWNLOAD,
                now=now,
            )
        except ConsentRequired as exc:
            skipped.append(_skip(uscc, str(exc.params.get("reason", "none")), locale))
            continue
        covered = frozenset(scope.categories) & wanted_categories
        if not covered:
            skipped.append(_skip(uscc, "out_of_scope", locale))
            continue
        included.append((entity_id, uscc, name, covered))
        scopes[entity_id] = scope
    if not included:
        raise NothingToDownload(details={"skipped": [s.model_dump() for s in skipped]})
    frame = _rows(
        lake or open_lake(settings),
        catalog.lake_fields(session),
        included,
        indicators,
        periods,
        objections.open_items_of(session, [e for e, _, _, _ in included]),
    )
    day = now.astimezone(SHANGHAI).date()
    limit = settings.download_daily_rows
    if not repository.take_download_quota(session, institution_id, day, frame.height, limit):
        used = repository.download_quota_used(session, institution_id, day)
        raise DownloadQuotaExceeded(rows=frame.height, left=max(limit - used, 0), limit=limit)
    public_id = secrets.token_hex(8)
    key = os.urandom(SM4_KEY_SIZE)
    codes = [i.code for i in indicators]
    header = {
        "id": public_id,
        "created_at": now.isoformat(),
        "institution_id": institution_id,
        "requester": actor.username,
        "format": data.format.value,
        "indicators": codes,
        "periods": periods,
        "entity_count": len(included),
        "row_count": frame.height,
        "columns": list(COLUMNS),
    }
    built = package.build(
        signer=signer(settings),
        header=header,
        entities=[{"uscc": u, "name": n} for _, u, n, _ in included],
        data_format=data.format.value,
        data=_serialise(frame, data.format.value),
        key=key,
    )
    row = Download(
        public_id=public_id,
        institution_id=institution_id,
        requested_by=actor.user_id,
        format=data.format.value,
        indicators=codes,
        periods=periods,
        entity_ids=[e for e, _, _, _ in included],
        entity_count=len(included),
        row_count=frame.height,
        skipped=[s.model_dump() for s in skipped],
        package_sm3=built.manifest["payload_sm3"],
        size_bytes=len(built.package),
        key_fingerprint=built.manifest["signer_fingerprint"],
        package=built.package,
        expires_at=now + timedelta(days=settings.download_retention_days),
        created_at=now,
    )
    session.add(row)
    session.flush()
    per_entity = frame.group_by("uscc").len() if frame.height else None
    counts = (
        {} if per_entity is None else dict(zip(per_entity["uscc"], per_entity["len"], strict=True))
    )
    for entity_id, uscc, _, covered in included:
        consent.record_query(
            session,
            actor,
            scopes[entity_id],
            kind=QUERY_KIND,
            categories=covered,
            details={"download": public_id, "indicators": codes, "rows": int(counts.get(uscc, 0))},
        )
    audit.record(
        session,
        actor=actor,
        action="monitoring.download",
        target_type="download",
        target_id=public_id,
        details={
            "format": data.format.value,
            "indicators": codes,
            "periods": [periods[0], periods[-1]],
            "entities": len(included),
            "skipped": len(skipped),
            "rows": frame.height,
            "package_sm3": row.package_sm3,
        },
    )
    return Created(download=row, key=key, skipped=skipped)


# --- reading -------------------------------------------------------------------------------


def read(row: Download, now: datetime | None = None) -> DownloadRead:
    now = now or utcnow()
    return DownloadRead(
        id=row.public_id,
        format=row.format,
        indicators=list(row.indicators),
        periods=list(row.periods),
        entity_count=row.entity_count,
        row_count=row.row_count,
        skipped=[DownloadSkip(**s) for s in row.skipped],
        package_sm3=row.package_sm3,
        size_bytes=row.size_bytes,
        key_fingerprint=row.key_fingerprint,
        requested_by=row.requested_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        available=row.package is not None and now < row.expires_at,
    )


def list_downloads(session: Session, *, actor: Actor, params: PageParams) -> Page[DownloadRead]:
    institution_id = _institution_of(actor)
    page = paginate(session, repository.downloads_query(institution_id), params)
    now = utcnow()
    return Page(
        items=[read(r, now) for r in page.items],
        total=page.total,
        page=page.page,
        per_page=page.per_page,
    )


def _own(session: Session, actor: Actor, public_id: str) -> Download:
    institution_id = _institution_of(actor)
    row = repository.download_by_public_id(session, public_id)
    if row is None or row.institution_id != institution_id:
        raise DownloadNotFound()
    return row


def get(session: Session, *, actor: Actor, public_id: str) -> DownloadRead:
    return read(_own(session, actor, public_id))


def fetch(
    session: Session, *, actor: Actor, public_id: str, now: datetime | None = None
) -> tuple[str, bytes]:
    """The stored package again (file name, bytes): within retention, and only while every
    included entity's download authorization is still live."""
    now = now or utcnow()
    row = _own(session, actor, public_id)
    if row.package is None or now >= row.expires_at:
        raise DownloadExpired()
    live = consent.live_pairs(
        session,
        purpose=consent.Purpose.DOWNLOAD,
        institution_ids=[row.institution_id],
        entity_ids=row.entity_ids,
        now=now,
    )
    ended = [e for e in row.entity_ids if (row.institution_id, e) not in live]
    if ended:
        briefs = entities.briefs(session, ended)
        raise DownloadExpired(
            N_(
                "The download authorization of {uscc} is no longer live: this package "
                "cannot be fetched again."
            ),
            code="download_authorization_ended",
            uscc=briefs[ended[0]][0] if ended[0] in briefs else str(ended[0]),
        )
    audit.record(
        session,
        actor=actor,
        action="monitoring.download_fetch",
        target_type="download",
        target_id=row.public_id,
        details={"package_sm3": row.package_sm3},
    )
    return f"puhui-download-{row.public_id}.zip", row.package


def purge_expired(session: Session, now: datetime | None = None) -> int:
    """Drop the stored packages past retention (their rows stay, for the list)."""
    return repository.drop_expired_packages(session, now or utcnow())
