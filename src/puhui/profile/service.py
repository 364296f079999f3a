"""The panorama profile (一库可查), the business-health score and the credit report.

Invariants
- Every read goes through ``consent.authorize_read`` and ends with
  ``consent.record_query`` in the caller's transaction: no profile, report or export
  leaves without its query record and audit event.
- Values come from the lake with their lineage (period, batch, source department); the
  current value of an indicator is its latest period, superseding applied.
- Masking happens here, once, through ``core.masking.must_mask`` before anything is
  serialised: a personal or C3 value reaches the schema already masked unless the
  viewer is the entity itself or revealed it with a reason (audited).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from threading import Lock
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

from puhui.accounts import service as accounts
from puhui.audit import service as audit
from puhui.catalog import service as catalog
from puhui.config import Settings, get_settings
from puhui.consent import service as consent
from puhui.core import limits
from puhui.core.errors import PermissionDenied, field_error
from puhui.core.i18n import N_, gettext
from puhui.core.lake import Lake
from puhui.core.masking import masked, must_mask
from puhui.core.policy import Actor, Role
from puhui.core.snapshot import Snapshot, SnapshotNotFound
from puhui.entities import service as entities
from puhui.ingest import service as ingest
from puhui.objections import service as objections
from puhui.profile import score as health
from puhui.profile.schemas import (
    CategoryBlock,
    CreditReport,
    HealthScore,
    IndicatorValue,
    LegalRepresentative,
    NegativeRecord,
    Profile,
    PublicFacts,
    ReportCheck,
    ReportMeta,
    ScoreReason,
    SourceRef,
    Trend,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
TREND_MONTHS = 24
PLATFORM_SOURCE = "PLATFORM"
REVEAL_ROLES = frozenset({Role.CUSTOMER_MANAGER, Role.RISK_MANAGER})
MIN_REASON = 4
SHAPES = catalog.MASK_SHAPES  # how a personal text indicator is masked
UNIT_LABELS = {
    "yuan": N_("yuan"),
    "year": N_("years"),
    "points": N_("points"),
    "m2": N_("m²"),
    "m3": N_("m³"),
    "yuan_per_mu": N_("yuan/mu"),
    "count": "",
    "ratio": "",
}
COMPONENT_NAMES = {
    "tax_trend": N_("Tax paid: year-on-year trend"),
    "sales_trend": N_("Invoiced sales: year-on-year trend"),
    "headcount_trend": N_("Social-insurance headcount: year-on-year trend"),
    "scale": N_("Headcount"),
    "maturity": N_("Years in business"),
    "tax_credit": N_("Tax credit grade"),
    "judicial": N_("Court records"),
    "regulatory": N_("Regulatory records"),
}
METHOD = N_(
    "Weighted mean of eight components (tax, sales and headcount trends, headcount, years "
    "in business, tax credit grade, court and regulatory records), each 0-100; components "
    "without data are left out; A >= 80, B >= 65, C >= 50, D >= 35, else E."
)

PROFILE_RATE_MESSAGE = N_("Too many profile queries; try again in {seconds} seconds.")


# --- catalog and lake, cached per process --------------------------------------------


@dataclass(frozen=True)
class Meta:
    id: int
    code: str
    category: str
    name_zh: str
    name_en: str
    unit: str
    value_type: str
    time_series: bool
    sensitivity: str
    personal: bool
    key: bool
    warning: bool

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_zh


_catalog: dict[int, dict[int, Meta]] = {}  # catalog version -> metadata (one kept)
_lakes: dict[Path, Lake] = {}
_snapshots: dict[Path, Snapshot] = {}
_lock = Lock()


def _metas(session: Session) -> dict[int, Meta]:
    version = catalog.current_version(session)
    number = version.version if version is not None else 0
    kept = _catalog.get(number)
    if kept is not None:
        return kept
    metas = {
        i.id: Meta(
            id=i.id,
            code=i.code,
            category=i.category,
            name_zh=i.name_zh,
            name_en=i.name_en,
            unit=i.unit,
            value_type=i.value_type,
            time_series=bool(i.time_series),
            sensitivity=i.sensitivity,
            personal=bool(i.personal),
            key=bool(i.is_key),
            warning=bool(i.is_warning),
        )
        for i in catalog.active_indicators(session)
    }
    _catalog.clear()
    _catalog[number] = metas
    return metas


def indicator_metas(session: Session) -> dict[int, Meta]:
    """The active catalog's metadata by indicator id (cached per catalog version)."""
    return _metas(session)


def _lake(settings: Settings) -> Lake:
    """One Lake per process and path, so parsed footers are reused across requests."""
    path = settings.lake_dir.resolve()
    with _lock:
        lake = _lakes.get(path)
        if lake is None:
            lake = _lakes[path] = Lake(
                path, footer_cache_row_groups=settings.lake_footer_cache_row_groups
            )
    return lake


# --- reading one entity ----------------------------------------------------------------


@dataclass
class Reading:
    """What a profile, a report and the self-service page are made of."""

    entity: Any
    scope: consent.ReadScope
    profile: Profile
    record_id: int


def unit_label(unit: str, locale: str) -> str:
    """How a catalog unit reads next to a value (counts and ratios need no word)."""
    label = UNIT_LABELS.get(unit, unit)
    return gettext(locale, label) if label else ""


def _typed(  # noqa: PLR0911 - one return per value type
    meta: Meta, num: float | None, text: str | None
) -> bool | int | float | str | None:
    kind = meta.value_type
    if kind in ("amount", "ratio"):
        return None if num is None else float(num)
    if kind == "count":
        return None if num is None else round(num)
    if kind == "flag":
        if num is not None:
            return num != 0
        if text is None:
            return None
        return text.strip().lower() in {"1", "true", "yes", "y", "是"}
    if text is not None:
        return text
    if num is None:
        return None
    return str(int(num)) if float(num).is_integer() else str(num)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


def read_profile(
    session: Session,
    actor: Actor,
    *,
    uscc: str,
    categories: Iterable[str] | None = None,
    reveal_reason: str | None = None,
    kind: str = "profile",
    locale: str = "zh_CN",
    settings: Settings | None = None,
) -> Reading:
    """The panorama profile of one entity as ``actor`` may see it; writes the query
    record. Raises 422 for a malformed USCC, 404 for an unknown one, 403 without a live
    authorization (purpose ``query``) covering the categories."""
    settings = settings or get_settings()
    limits.for_actor(
        session,
        actor,
        name="profile",
        per_user=settings.limit_profile_per_user,
        per_institution=settings.limit_profile_per_institution,
        seconds=3600,
        secret=settings.secret_key,
        message=PROFILE_RATE_MESSAGE,
    )
    entity = entities.get_public(session, code=uscc)
    scope = consent.authorize_read(
        session,
        actor,
        entity_id=entity.id,
        uscc=entity.uscc,
        purpose=consent.Purpose.QUERY,
        categories=categories,
    )
    revealed = _check_reveal(actor, scope, reveal_reason, settings)
    metas = _metas(session)
    wanted = [m for m in metas.values() if scope.covers(m.category)]
    rows = _lake(settings).history(entity.id, [m.id for m in wanted]) if wanted else None
    if rows is not None:  # personal text values are stored encrypted; masked in _assemble
        rows = catalog.lake_fields(session).reveal(rows)
    profile = _assemble(
        session, entity, scope, metas, rows, revealed=revealed, locale=locale, settings=settings
    )
    details = {"revealed": True, "reason": reveal_reason} if revealed else None
    record = consent.record_query(session, actor, scope, kind=kind, details=details)
    profile.query_record_id = record.id
    return Reading(entity=entity, scope=scope, profile=profile, record_id=record.id)


class RevealNeedsSecondFactor(PermissionDenied):
    default_code = "second_factor_required"
    default_message = N_(
        "Revealing personal values needs a recent check of your authenticator app: enter "
        "its code first."
    )


def _check_reveal(
    actor: Actor, scope: consent.ReadScope, reason: str | None, settings: Settings
) -> bool:
    if reason is None:
        return False
    reason = reason.strip()
    if scope.own:
        return False  # the entity sees its own data unmasked anyway
    if actor.role not in REVEAL_ROLES:
        raise PermissionDenied(action="profile.reveal")
    if len(reason) < MIN_REASON:
        raise field_error(
            "reveal_reason", N_("Say why you need the unmasked values (at least 4 characters).")
        )
    if not accounts.second_factor_recent(actor, settings):
        raise RevealNeedsSecondFactor()
    return True


def _assemble(
    session: Session,
    entity: Any,
    scope: consent.ReadScope,
    metas: dict[int, Meta],
    rows: pl.DataFrame | None,
    *,
    revealed: bool,
    locale: str,
    settings: Settings,
) -> Profile:
    series = _by_indicator(rows)
    latest: dict[int, dict[str, Any]] = {
        indicator_id: {
            "indicator_id": indicator_id,
            "period": points[-1][0],
            "value_num": points[-1][1],
            "value_text": points[-1][2],
            "batch_id": points[-1][3],
        }
        for indicator_id, points in series.items()
    }
    lineage = ingest.lineage(session, {int(r["batch_id"]) for r in latest.values()})

    sources: dict[int, SourceRef | None] = {}
    for batch_id, origin in lineage.items():
        sources[batch_id] = SourceRef(
            code=origin.source_code,
            name=origin.source_name,
            department=origin.department,
            level=origin.level,
        )

    disputed = objections.open_items(session, entity_id=entity.id)
    blocks: list[CategoryBlock] = []
    for category in consent.CATEGORIES:
        if not scope.covers(category):
            continue
        in_catalog = [m for m in metas.values() if m.category == category]
        values = []
        # only indicators with a value: most of the 595 are empty for any one entity
        for meta in sorted((m for m in in_catalog if m.id in latest), key=lambda m: m.id):
            rec = latest[meta.id]
            value = _typed(meta, rec["value_num"], rec["value_text"])
            hide = value is not None and must_mask(
                meta.sensitivity, meta.personal, own=scope.own, revealed=revealed
            )
            if hide:
                value = (
                    masked(SHAPES.get(meta.code), str(value)) if meta.value_type == "text" else None
                )
            batch_id = int(rec["batch_id"])
            found = lineage.get(batch_id)
            values.append(
                IndicatorValue.model_construct(
                    code=meta.code,
                    name=meta.name(locale),
                    unit=meta.unit,
                    unit_label=unit_label(meta.unit, locale),
                    value_type=meta.value_type,
                    value=value,
                    period=int(rec["period"]),
                    as_of=None if found is None else found.committed_at,
                    batch_id=batch_id,
                    source=sources.get(batch_id),
                    sensitivity=meta.sensitivity,
                    masked=hide,
                    key=meta.key,
                    warning=meta.warning,
                    under_objection=(meta.id, int(rec["period"])) in disputed,
                )
            )
        blocks.append(
            CategoryBlock(
                category=category,
                name=gettext(locale, category),
                in_catalog=len(in_catalog),
                indicators=values,
            )
        )
    return Profile(
        entity=_facts(entity),
        legal_representative=_legal_rep(entity, scope, revealed),
        purpose=scope.purpose,
        consent_id=scope.consent_id,
        categories=blocks,
        withheld=[c for c in consent.CATEGORIES if not scope.covers(c)],
        trends=_trends(series, metas, locale, scope, revealed, disputed),
        negative_records=(
            _negatives(series, metas, locale, disputed) if scope.covers("negative") else []
        ),
        health=_health(entity.id, latest, metas, scope, locale, settings),
        query_record_id=0,
        generated_at=datetime.now(UTC),
    )


def _facts(entity: Any) -> PublicFacts:
    return PublicFacts.model_validate(entity)


def _legal_rep(entity: Any, scope: consent.ReadScope, revealed: bool) -> LegalRepresentative | None:
    """The registry's legal representative: a basic-category fact, personal data."""
    if not scope.covers("basic"):
        return None
    hide = must_mask("C3", True, own=scope.own, revealed=revealed)
    name, number = entity.legal_rep_name, entity.legal_rep_id
    if hide:
        name = masked("name", name) if name else name
        number = masked("id_number", number) if number else number
    return LegalRepresentative(name=name, id_number=number, masked=hide)


Points = list[tuple[int, Any, Any, int]]  # (period, value_num, value_text, batch_id)


def _by_indicator(history: pl.DataFrame | None) -> dict[int, Points]:
    """Each indicator's points in period order, in one pass over the history (sorted by
    indicator and period): trends, negatives and the latest values all read this."""
    out: dict[int, Points] = {}
    if history is None or not history.height:
        return out
    rows = history.select("indicator_id", "period", "value_num", "value_text", "batch_id")
    for i, p, n, t, b in rows.iter_rows():
        out.setdefault(i, []).append((p, n, t, b))
    return out


def _trends(
    series: dict[int, Points],
    metas: dict[int, Meta],
    locale: str,
    scope: consent.ReadScope,
    revealed: bool,
    disputed: set[tuple[int, int]],
) -> list[Trend]:
    """The last 24 months of every numeric time-series indicator with two or more points."""
    if not series:
        return []
    last = max(points[-1][0] for points in series.values())
    first = _months_back(last, TREND_MONTHS - 1)
    out = []
    for indicator_id, all_points in series.items():
        meta = metas.get(indicator_id)
        if (
            meta is None
            or not meta.time_series
            or meta.value_type not in ("amount", "ratio", "count", "flag")
            or must_mask(meta.sensitivity, meta.personal, own=scope.own, revealed=revealed)
        ):
            continue
        points = [pt for pt in all_points if pt[0] >= first]
        if len(points) < 2:
            continue
        out.append(
            Trend(
                code=meta.code,
                name=meta.name(locale),
                unit=meta.unit,
                unit_label=unit_label(meta.unit, locale),
                category=meta.category,
                periods=[p for p, _, _, _ in points],
                values=[_number(_typed(meta, n, t)) for _, n, t, _ in points],
                disputed_periods=[p for p, _, _, _ in points if (indicator_id, p) in disputed],
            )
        )
    keys = {m.code for m in metas.values() if m.key}
    return sorted(out, key=lambda t: (t.code not in keys, t.code))


def _months_back(period: int, months: int) -> int:
    index = (period // 100) * 12 + (period % 100 - 1) - months
    return (index // 12) * 100 + index % 12 + 1


def _negatives(
    series: dict[int, Points],
    metas: dict[int, Meta],
    locale: str,
    disputed: set[tuple[int, int]],
) -> list[NegativeRecord]:
    """Each negative indicator that was ever on record: current or cleared."""
    out = []
    for indicator_id, points in series.items():
        meta = metas.get(indicator_id)
        if meta is None or meta.category != "negative":
            continue
        on = [(p, _typed(meta, n, t)) for p, n, t, _ in points]
        hits = [(p, v) for p, v in on if v not in (None, False, 0, 0.0, "", "0")]
        if not hits:
            continue
        latest_period, latest_value = on[-1]
        current = latest_value not in (None, False, 0, 0.0, "", "0")
        out.append(
            NegativeRecord(
                code=meta.code,
                name=meta.name(locale),
                value=latest_value if current else hits[-1][1],
                status="current" if current else "cleared",
                first_period=hits[0][0],
                last_period=hits[-1][0],
                latest_period=latest_period,
                under_objection=any((indicator_id, p) in disputed for p, _ in on),
            )
        )
    return sorted(out, key=lambda r: (r.status != "current", -r.last_period, r.code))


def _health(
    entity_id: int,
    latest: dict[int, dict[str, Any]],
    metas: dict[int, Meta],
    scope: consent.ReadScope,
    locale: str,
    settings: Settings,
) -> HealthScore | None:
    """The stored score and grade (lake values, so they carry lineage like any other
    indicator) with the reasons, recomputed from the snapshot row of its inputs. Input
    values of categories the authorization does not cover are left out of the reasons."""
    if not scope.covers("credit_evaluation"):
        return None
    by_code = {m.code: m for m in metas.values()}
    score_meta, grade_meta = by_code.get(health.SCORE_CODE), by_code.get(health.GRADE_CODE)
    score_rec = latest.get(score_meta.id) if score_meta else None
    grade_rec = latest.get(grade_meta.id) if grade_meta else None
    row = _snapshot_row(entity_id, settings)
    up, down = health.explain(row) if row is not None else ([], [])

    def reason(r: health.Reason) -> ScoreReason:
        inputs = {
            code: value
            for code, value in r.inputs.items()
            if code in by_code and scope.covers(by_code[code].category)
        }
        return ScoreReason(
            component=r.component,
            name=gettext(locale, COMPONENT_NAMES[r.component]),
            points=r.points,
            sub_score=r.sub_score,
            weight=r.weight,
            inputs=inputs,
        )

    return HealthScore(
        score=None if score_rec is None else score_rec["value_num"],
        grade=None if grade_rec is None else grade_rec["value_text"],
        period=None if score_rec is None else int(score_rec["period"]),
        method=gettext(locale, METHOD),
        raised_by=[reason(r) for r in up],
        lowered_by=[reason(r) for r in down],
    )


def _snapshot(settings: Settings) -> Snapshot | None:
    """One reader per process and folder: it maps the groups once and re-maps only what a
    new version changed."""
    path = ingest.snapshot_dir(settings).resolve()
    with _lock:
        snap = _snapshots.get(path)
        if snap is None:
            try:
                snap = _snapshots[path] = Snapshot.open(path)
            except SnapshotNotFound:
                return None
    return snap


def _snapshot_row(entity_id: int, settings: Settings) -> dict[str, Any] | None:
    snap = _snapshot(settings)
    if snap is None:
        return None
    try:
        view = snap.current()
    except SnapshotNotFound:
        return None
    if entity_id >= view.n_entities:
        return None
    return {code: view.column(code)[entity_id] for code in health.INPUTS if code in view.group_of}


def health_grade(entity_id: int, *, settings: Settings | None = None) -> str | None:
    """The entity's current business-health grade (A-E) from the snapshot, if scored."""
    snap = _snapshot(settings or get_settings())
    if snap is None:
        return None
    try:
        view = snap.current()
    except SnapshotNotFound:
        return None
    if entity_id >= view.n_entities or health.GRADE_CODE not in view.group_of:
        return None
    value = view.column(health.GRADE_CODE)[entity_id]
    return None if value is None else str(value)


def health_grades(
    entity_ids: Sequence[int], *, settings: Settings | None = None
) -> list[str | None]:
    """The current business-health grade of each of these entities (None: not scored), read
    from the snapshot's grade column in one gather."""
    snap = _snapshot(settings or get_settings())
    if snap is None or not entity_ids:
        return [None] * len(entity_ids)
    try:
        view = snap.current()
    except SnapshotNotFound:
        return [None] * len(entity_ids)
    if health.GRADE_CODE not in view.group_of:
        return [None] * len(entity_ids)
    column = view.column(health.GRADE_CODE)
    inside = [i if 0 <= i < view.n_entities else None for i in entity_ids]
    picked = column.cast(pl.String).gather([i for i in inside if i is not None]).to_list()
    found = iter(picked)
    return [None if i is None else next(found) for i in inside]


# --- the business-health score for every entity ----------------------------------------


def recompute_scores(factory: sessionmaker[Session], *, settings: Settings | None = None) -> int:
    """Score every entity from the current snapshot and write the scores that changed
    as one batch of the platform's source (lake, snapshot refresh, lineage like any
    department's data). Returns how many entities' scores changed."""
    settings = settings or get_settings()
    try:
        view = ingest.open_snapshot(settings).current()
    except SnapshotNotFound:
        return 0
    with factory() as session:
        ids = {m.code: m.id for m in _metas(session).values()}
    if health.SCORE_CODE not in ids or health.GRADE_CODE not in ids:
        return 0
    present = [c for c in health.INPUTS if c in view.group_of]
    inputs = view.frame(present) if present else pl.DataFrame({"_": [0] * view.n_entities})
    new = health.score(inputs)
    old_score = _column(view, health.SCORE_CODE, pl.Float32(), new.height)
    old_grade = _column(view, health.GRADE_CODE, pl.String(), new.height)
    frame = pl.DataFrame(
        {
            "entity_id": pl.int_range(0, new.height, eager=True, dtype=pl.Int32),
            "score": new.get_column("score"),
            "grade": new.get_column("grade").cast(pl.String),
            "old_score": old_score,
            "old_grade": old_grade,
        }
    )
    changed = frame.filter(
        pl.col("score").ne_missing(pl.col("old_score"))
        | pl.col("grade").ne_missing(pl.col("old_grade"))
    )
    if changed.height == 0:
        return 0
    period = int(datetime.now(SHANGHAI).strftime("%Y%m"))
    rows = pl.concat(
        [
            changed.select(
                "entity_id",
                pl.lit(ids[health.SCORE_CODE], pl.Int16).alias("indicator_id"),
                pl.lit(period, pl.Int32).alias("period"),
                pl.col("score").cast(pl.Float64).alias("value_num"),
                pl.lit(None, pl.String).alias("value_text"),
            ),
            changed.select(
                "entity_id",
                pl.lit(ids[health.GRADE_CODE], pl.Int16).alias("indicator_id"),
                pl.lit(period, pl.Int32).alias("period"),
                pl.lit(None, pl.Float64).alias("value_num"),
                pl.col("grade").alias("value_text"),
            ),
        ]
    )
    ingest.commit_derived(
        factory,
        source_code=PLATFORM_SOURCE,
        label=f"business-health-score-{period}-snapshot-{view.version}",
        rows=rows,
        settings=settings,
    )
    return changed.height


def _column(view: Any, code: str, dtype: pl.DataType, n: int) -> pl.Series:
    if code in view.group_of:
        col: pl.Series = view.column(code).cast(dtype)
        return col.extend_constant(None, n - col.len()) if col.len() < n else col.head(n)
    return pl.Series(code, [None] * n, dtype=dtype)


# --- the credit report -----------------------------------------------------------------


def report_number(record_id: int, when: datetime) -> str:
    return f"PH{when.astimezone(SHANGHAI):%Y%m%d}{record_id:010d}"


def verification_code(settings: Settings, number: str, uscc: str, when: datetime) -> str:
    message = f"report|{number}|{uscc}|{int(when.timestamp())}".encode()
    digest = hmac.new(settings.secret_key.encode(), message, hashlib.sha256).hexdigest()
    code = digest[:16].upper()
    return "-".join(code[i : i + 4] for i in range(0, 16, 4))


def credit_report(
    session: Session, actor: Actor, *, uscc: str, locale: str, settings: Settings | None = None
) -> CreditReport:
    """The credit report of one entity: the whole profile the authorization covers, with
    a report number and a verification code (one query record of kind ``report``)."""
    settings = settings or get_settings()
    reading = read_profile(
        session, actor, uscc=uscc, kind="report", locale=locale, settings=settings
    )
    record = consent.get_query_record(session, reading.record_id)
    assert record is not None  # written by read_profile in this transaction
    when = record.created_at
    number = report_number(record.id, when)
    code = verification_code(settings, number, reading.entity.uscc, when)
    consent.annotate_query_record(session, record.id, {"report_number": number})
    institution = None
    expires = None
    if actor.institution_id is not None:
        institution = accounts.institution_names(session, {actor.institution_id}).get(
            actor.institution_id
        )
    if reading.scope.consent_id is not None:
        expires = consent.get_consent(
            session, actor=actor, consent_id=reading.scope.consent_id
        ).expires_at
    meta = ReportMeta(
        number=number,
        generated_at=when,
        requester_institution=institution,
        requester=actor.username,
        purpose=reading.scope.purpose,
        consent_id=reading.scope.consent_id,
        consent_expires_at=expires,
        verification_code=code,
    )
    return CreditReport(report=meta, profile=reading.profile)


def check_report(
    session: Session, *, number: str, code: str, settings: Settings | None = None
) -> ReportCheck:
    """Whether a report with this number and verification code was issued here."""
    settings = settings or get_settings()
    record_id = _record_id(number)
    record = consent.get_query_record(session, record_id) if record_id else None
    if record is None or record.kind != "report":
        return ReportCheck(number=number, valid=False)
    uscc, name = entities.briefs(session, {record.entity_id}).get(record.entity_id, ("", ""))
    expected = verification_code(settings, number, uscc, record.created_at)
    if report_number(record.id, record.created_at) != number or not hmac.compare_digest(
        expected, code.strip().upper()
    ):
        return ReportCheck(number=number, valid=False)
    institution = None
    if record.institution_id is not None:
        institution = accounts.institution_names(session, {record.institution_id}).get(
            record.institution_id
        )
    return ReportCheck(
        number=number,
        valid=True,
        uscc=uscc,
        entity_name=name,
        generated_at=record.created_at,
        requester_institution=institution,
    )


def _record_id(number: str) -> int | None:
    number = number.strip().upper()
    if len(number) != 20 or not number.startswith("PH") or not number[2:].isdigit():
        return None
    return int(number[10:])


def audit_denied_view(session: Session, actor: Actor, uscc: str, error: Exception) -> None:
    """A profile page shown without data (no authorization) still leaves a denial record."""
    audit.record(
        session,
        actor=actor,
        action="permission.denied",
        target_type="entity",
        target_id=uscc,
        outcome="denied",
        details={"code": getattr(error, "code", "denied"), **getattr(error, "params", {})},
    )
