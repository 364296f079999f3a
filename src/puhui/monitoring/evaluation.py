"""From lake rows to alerts and the notices they send.

Invariants
- What is evaluated: the (entity, indicator, period) rows a batch committed (real-time,
  :func:`evaluate_batch`), or the latest period of every pair (full re-evaluation,
  :func:`evaluate_all`), restricted to the warning indicators some enabled rule uses and
  to entities some institution *monitors now*: on its watchlist **and** with a live
  ``monitoring`` authorization at the moment of evaluation. So a revoked authorization
  stops monitoring at once, and an authorization that arrives starts it.
- The previous period of a row is the entity's previous reported period of the
  indicator; the year-ago value is that of the same month a year before. Both are read
  from the lake as of the batch's version (superseding applied), so a job that runs late
  judges the batch against what preceded it, not against later data.
- Alerts are inserted "if absent" on (institution, entity, rule, period): re-sent data,
  a re-run job and a full re-evaluation never raise an alert twice, and only alerts
  inserted by this run send notices. Everything — alerts, inbox messages, SMS jobs —
  is written in the caller's transaction, so a worker killed mid-run leaves nothing
  and its retry does it all once.
- Notices are grouped per recipient and run (one message naming the count and the first
  entities), because a batch can raise thousands of alerts for one risk manager. High
  and medium alerts are texted at once, outside quiet hours; inside them the SMS waits
  for :data:`DEFERRED_JOB` at the end of the quiet hours; low alerts go into the daily
  digest. The in-app message is immediate whatever the severity or hour.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from puhui.accounts import service as accounts
from puhui.catalog import service as catalog
from puhui.config import get_settings
from puhui.consent import service as consent
from puhui.core import jobs
from puhui.core.i18n import N_
from puhui.core.lake import Lake
from puhui.core.orm import utcnow
from puhui.core.policy import Role
from puhui.core.snapshot import FALSE_TEXTS, TRUE_TEXTS
from puhui.entities import service as entities
from puhui.monitoring import engine, repository
from puhui.monitoring.models import Rule
from puhui.notifications import service as notifications

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFERRED_JOB = "monitoring.deferred_sms"
IMMEDIATE = ("high", "medium")
INBOX, SMS = "inbox", "sms"  # notification channels (notifications.service.notify)
HISTORY_MONTHS_BACK = 200  # YYYYMM arithmetic: two years before the earliest row
NAMES_IN_NOTICE = 3
WHOLE_LIST_ABOVE = 50_000  # touched entities above which watchlists are read whole

TEMPLATE_ALERTS = "monitoring.alerts"
TEMPLATE_DIGEST = "monitoring.digest"
notifications.register_template(
    TEMPLATE_ALERTS,
    subject=N_("{count} new risk alerts"),
    body=N_(
        "[Puhui] {count} new risk alerts on your borrowers ({names}). "
        "Log in to the platform to see them."
    ),
)
notifications.register_template(
    TEMPLATE_DIGEST,
    subject=N_("Daily digest: {count} low-severity risk alerts"),
    body=N_(
        "[Puhui] Daily digest: {count} low-severity risk alerts on your borrowers ({names}). "
        "Log in to the platform to see them."
    ),
)


@dataclass(frozen=True)
class Outcome:
    evaluated: int  # rows judged
    fired: int  # (rule, entity, period) that fired, new or not
    created: int  # alerts inserted by this run


# --- quiet hours -------------------------------------------------------------------------


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """``"22:00-08:00"`` → (start, end) in Asia/Shanghai; ``""`` → None (no quiet hours)."""
    text = text.strip()
    if not text:
        return None
    try:
        start_text, end_text = text.split("-")
        start = time.fromisoformat(start_text.strip())
        end = time.fromisoformat(end_text.strip())
    except ValueError as exc:
        raise ValueError(f"quiet hours {text!r} are not HH:MM-HH:MM") from exc
    if start == end:
        raise ValueError(f"quiet hours {text!r} start and end at the same time")
    return start, end


def quiet_until(now: datetime, hours: tuple[time, time] | None) -> datetime | None:
    """When the quiet hours that ``now`` falls in end (UTC), or None outside them."""
    if hours is None:
        return None
    start, end = hours
    local = now.astimezone(SHANGHAI)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, SHANGHAI).astimezone(now.tzinfo)


# --- reading the lake --------------------------------------------------------------------


def _numeric() -> pl.Expr:
    text = pl.col("value_text").str.strip_chars().str.to_lowercase()
    return (
        pl.when(pl.col("value_num").is_not_null())
        .then(pl.col("value_num"))
        .when(text.is_in(list(TRUE_TEXTS)))
        .then(1.0)
        .when(text.is_in(list(FALSE_TEXTS)))
        .then(0.0)
        .otherwise(None)
        .cast(pl.Float64)
        .alias("value")
    )


def pair_keys(entity: np.ndarray, indicator: np.ndarray, period: np.ndarray) -> np.ndarray:
    """One sortable int64 per (entity, indicator, period): entity in the high 31 bits,
    indicator (< 4096) in the next 12, period (YYYYMM < 2^20) in the low 20."""
    e = np.asarray(entity, np.int64)
    return (e << 32) | (np.asarray(indicator, np.int64) << 20) | np.asarray(period, np.int64)


def history(
    lake: Lake,
    *,
    entity_ids: Sequence[int],
    indicator_ids: Sequence[int],
    since_period: int,
    keys: np.ndarray | None = None,
    version: int | None = None,
) -> engine.Pairs:
    """The superseding value of each (entity, indicator, period) of these pairs from
    ``since_period`` on, with the previous reported value of the pair and the value a year
    before; only the rows whose :func:`pair_keys` are in the sorted ``keys`` (None: all).
    Superseding, previous and year-ago are found with one sort of int64 keys (a window
    function over 100 000 groups is orders of magnitude slower)."""
    rows = (
        lake.scan(version)
        .filter(
            pl.col("entity_id").is_in(list(entity_ids))
            & pl.col("indicator_id").is_in(list(indicator_ids))
            & (pl.col("period") >= since_period)
        )
        .select("entity_id", "indicator_id", "period", "batch_id", _numeric())
        .collect()
    )
    if rows.height == 0:
        return engine.Pairs.build([], [], [], [])
    key = pair_keys(
        rows.get_column("entity_id").to_numpy(),
        rows.get_column("indicator_id").to_numpy(),
        rows.get_column("period").to_numpy(),
    )
    batch = rows.get_column("batch_id").to_numpy()
    value = rows.get_column("value").fill_null(np.nan).to_numpy().astype(np.float64)
    order = np.lexsort((batch, key))
    key, batch, value = key[order], batch[order], value[order]
    last = np.append(key[1:] != key[:-1], True)  # the highest batch of each key supersedes
    key, batch, value = key[last], batch[last], value[last]
    pair = key >> 20
    previous = np.full(key.size, np.nan)
    same = pair[1:] == pair[:-1]
    previous[1:][same] = value[:-1][same]
    ago_key = key - 100  # YYYYMM − 100: the same month a year before
    pos = np.searchsorted(key, ago_key)
    pos[pos >= key.size] = key.size - 1
    found = key[pos] == ago_key
    year_ago = np.where(found, value[pos], np.nan)
    if keys is not None:
        pos = np.searchsorted(keys, key)
        pos[pos >= keys.size] = max(keys.size - 1, 0)
        keep = keys[pos] == key if keys.size else np.zeros(key.size, bool)
        key, batch, value = key[keep], batch[keep], value[keep]
        previous, year_ago = previous[keep], year_ago[keep]
    return engine.Pairs.build(
        key >> 32, (key >> 20) & 0xFFF, key & 0xFFFFF, value, previous, year_ago, batch
    )


# --- who is monitored --------------------------------------------------------------------


@dataclass
class Context:
    rules: list[Rule]
    specs: list[engine.RuleSpec]
    indicator_ids: list[int]
    monitored: dict[int, np.ndarray]
    snoozed: dict[int, np.ndarray]
    versions: dict[int, int]


def _watches(
    session: Session, institutions: list[int], ids: list[int] | None
) -> list[tuple[int, int]]:
    """(institution, entity) of these institutions' watches of these entities (None: all)."""
    if ids is None or len(ids) <= WHOLE_LIST_ABOVE:
        return repository.watches_of(session, institution_ids=institutions, entity_ids=ids)
    # a batch touching much of the city: read the watchlists whole and intersect here
    # rather than with hundreds of IN lists
    whole = repository.watches_of(session, institution_ids=institutions, entity_ids=None)
    if not whole:
        return []
    ents = np.fromiter((e for _, e in whole), np.int64, len(whole))
    keep = np.isin(ents, np.asarray(ids, np.int64))
    return [w for w, k in zip(whole, keep.tolist(), strict=True) if k]


def context(
    session: Session,
    *,
    entity_ids: Iterable[int] | None,
    indicator_ids: Iterable[int] | None,
    now: datetime,
) -> Context | None:
    """The enabled rules on these indicators and, per institution, the entities among
    ``entity_ids`` (None: all) it monitors now; None when there is nothing to judge."""
    wanted = None if indicator_ids is None else sorted(set(indicator_ids))
    rules = repository.enabled_rules(session, wanted)
    if not rules:
        return None
    institutions = sorted({r.institution_id for r in rules})
    ids = None if entity_ids is None else sorted(set(entity_ids))
    if ids is not None and not ids:
        return None
    watches = _watches(session, institutions, ids)
    if not watches:
        return None
    live = consent.live_pairs(
        session,
        purpose=consent.Purpose.MONITORING,
        institution_ids=institutions,
        entity_ids=sorted({e for _, e in watches}),
        now=now,
    )
    per: dict[int, list[int]] = defaultdict(list)
    for pair in watches:
        if pair in live:
            per[pair[0]].append(pair[1])
    monitored = {i: np.unique(np.asarray(es, np.int64)) for i, es in per.items()}
    rules = [r for r in rules if r.institution_id in monitored]
    if not rules:
        return None
    counts = {
        i.id: i.value_type == "count" for i in catalog.active_indicators(session) if i.is_warning
    }
    rules = [r for r in rules if r.indicator_id in counts]
    if not rules:
        return None
    specs = [
        engine.RuleSpec(
            id=r.id,
            institution_id=r.institution_id,
            indicator_id=r.indicator_id,
            kind=r.kind,
            op=r.op,
            threshold=r.threshold,
            severity=r.severity,
            counts_records=counts[r.indicator_id],
        )
        for r in rules
    ]
    today = now.astimezone(SHANGHAI).date()
    snoozed_rows: dict[int, list[int]] = defaultdict(list)
    for rule_id, entity_id in repository.snoozes_active(session, [r.id for r in rules], today):
        snoozed_rows[rule_id].append(entity_id)
    return Context(
        rules=rules,
        specs=specs,
        indicator_ids=sorted({r.indicator_id for r in rules}),
        monitored=monitored,
        snoozed={r: np.unique(np.asarray(es, np.int64)) for r, es in snoozed_rows.items()},
        versions=repository.rule_set_versions(session, sorted(monitored)),
    )


# --- evaluation --------------------------------------------------------------------------


def evaluate_batch(
    session: Session, *, lake: Lake, lake_version: int, now: datetime | None = None
) -> Outcome:
    """Judge the rows that lake commit ``lake_version`` (one batch) added."""
    now = now or utcnow()
    rows = lake.rows_of_version(lake_version)
    if rows.height == 0:
        return Outcome(0, 0, 0)
    ctx = context(
        session,
        entity_ids=rows.get_column("entity_id").unique().to_list(),
        indicator_ids=rows.get_column("indicator_id").unique().to_list(),
        now=now,
    )
    if ctx is None:
        return Outcome(0, 0, 0)
    watched = np.unique(np.concatenate(list(ctx.monitored.values())))
    mine = rows.filter(
        pl.col("indicator_id").is_in(ctx.indicator_ids)
        & pl.col("entity_id").is_in(watched.tolist())
    )
    if mine.height == 0:
        return Outcome(0, 0, 0)
    keys = np.unique(
        pair_keys(
            mine.get_column("entity_id").to_numpy(),
            mine.get_column("indicator_id").to_numpy(),
            mine.get_column("period").to_numpy(),
        )
    )
    pairs = history(
        lake,
        entity_ids=mine.get_column("entity_id").unique().to_list(),
        indicator_ids=mine.get_column("indicator_id").unique().to_list(),
        since_period=int(mine.get_column("period").min()) - HISTORY_MONTHS_BACK,  # type: ignore[arg-type]
        keys=keys,
        version=lake_version,
    )
    return _raise(session, ctx, pairs, now=now, run=f"v{lake_version}")


def evaluate_all(session: Session, *, lake: Lake, run: str, now: datetime | None = None) -> Outcome:
    """Judge the latest period of every monitored pair (after a rule or catalog change)."""
    now = now or utcnow()
    ctx = context(session, entity_ids=None, indicator_ids=None, now=now)
    if ctx is None:
        return Outcome(0, 0, 0)
    watched = np.unique(np.concatenate(list(ctx.monitored.values())))
    latest = lake.latest_for_entities(watched.tolist(), indicator_ids=ctx.indicator_ids)
    if latest.height == 0:
        return Outcome(0, 0, 0)
    keys = np.unique(
        pair_keys(
            latest.get_column("entity_id").to_numpy(),
            latest.get_column("indicator_id").to_numpy(),
            latest.get_column("period").to_numpy(),
        )
    )
    pairs = history(
        lake,
        entity_ids=watched.tolist(),
        indicator_ids=ctx.indicator_ids,
        since_period=int(latest.get_column("period").min()) - HISTORY_MONTHS_BACK,  # type: ignore[arg-type]
        keys=keys,
    )
    return _raise(session, ctx, pairs, now=now, run=run)


def _raise(
    session: Session, ctx: Context, pairs: engine.Pairs, *, now: datetime, run: str
) -> Outcome:
    hits = engine.evaluate(pairs, ctx.specs, ctx.monitored, snoozed=ctx.snoozed)
    if not len(hits):
        return Outcome(len(pairs), 0, 0)
    by_id = {r.id: r for r in ctx.rules}
    rows = []
    for hit in hits.rows():
        rule = by_id[int(hit["rule_id"])]  # type: ignore[call-overload]
        rows.append(
            {
                **hit,
                "kind": rule.kind,
                "severity": rule.severity,
                "threshold": rule.threshold,
                "op": rule.op,
                "rule_set_version": ctx.versions.get(rule.institution_id, 0),
                "status": "new",
                "note": "",
                "created_at": now,
            }
        )
    created = repository.insert_alerts(session, rows)
    if created:
        send_notices(session, created, run=run, now=now)
    return Outcome(len(pairs), len(hits), len(created))


# --- notices -----------------------------------------------------------------------------


def recipients(
    session: Session, institution_id: int, entity_ids: Sequence[int]
) -> dict[int, list[int]]:
    """entity → the users told of its alerts: its assignees, else the institution's risk
    managers."""
    assigned = repository.assignees_by_entity(session, institution_id, entity_ids)
    fallback: list[int] | None = None
    out: dict[int, list[int]] = {}
    for e in entity_ids:
        users = assigned.get(e)
        if not users:
            if fallback is None:
                fallback = [
                    u
                    for u, _ in accounts.institution_staff(
                        session, institution_id=institution_id, role=Role.RISK_MANAGER.value
                    )
                ]
            users = fallback
        out[e] = users
    return out


def _by_recipient(session: Session, alerts: Sequence[Any]) -> dict[int, list[Any]]:
    per_inst: dict[int, list[Any]] = defaultdict(list)
    for a in alerts:
        per_inst[a.institution_id].append(a)
    out: dict[int, list[Any]] = defaultdict(list)
    for inst, items in per_inst.items():
        who = recipients(session, inst, sorted({a.entity_id for a in items}))
        for a in items:
            for user in who.get(a.entity_id, []):
                out[user].append(a)
    return out


def _names(session: Session, alerts: Sequence[Any]) -> str:
    ids = list(dict.fromkeys(a.entity_id for a in alerts))[:NAMES_IN_NOTICE]
    briefs = entities.briefs(session, ids)
    names = [briefs[i][1] for i in ids if i in briefs]
    more = "…" if len({a.entity_id for a in alerts}) > len(names) else ""
    return "、".join(names) + more


def send_notices(session: Session, alert_ids: Sequence[int], *, run: str, now: datetime) -> None:
    """The in-app message of these new alerts now, and their SMS now when it may go."""
    alerts = repository.alert_briefs(session, alert_ids)
    hours = parse_quiet_hours(get_settings().monitoring_quiet_hours)
    quiet_end = quiet_until(now, hours)
    texted: list[int] = []
    for user, items in sorted(_by_recipient(session, alerts).items()):
        params = {"count": len(items), "names": _names(session, items)}
        notifications.notify(
            session,
            template=TEMPLATE_ALERTS,
            params=params,
            user_id=user,
            channels=(INBOX,),
            purpose="monitoring",
            dedupe_key=f"monitoring:{run}:{user}",
        )
        urgent = [a for a in items if a.severity in IMMEDIATE]
        if urgent and quiet_end is None:
            notifications.notify(
                session,
                template=TEMPLATE_ALERTS,
                params={"count": len(urgent), "names": _names(session, urgent)},
                user_id=user,
                channels=(SMS,),
                purpose="monitoring",
                dedupe_key=f"monitoring:{run}:{user}",
            )
    if quiet_end is None:
        texted = [a.id for a in alerts if a.severity in IMMEDIATE]
        repository.mark_sms(session, texted, now)
    elif any(a.severity in IMMEDIATE for a in alerts):
        jobs.enqueue(
            session,
            DEFERRED_JOB,
            {},
            run_at=quiet_end,
            dedupe_key=f"{DEFERRED_JOB}:{quiet_end.isoformat()}",
        )


def send_pending_sms(
    session: Session, *, severities: Sequence[str], run: str, template: str, now: datetime
) -> int:
    """Text every alert of these severities whose SMS has not gone yet (the end of quiet
    hours, the daily digest); returns how many alerts were covered."""
    alerts = repository.pending_sms(session, severities=severities, before=now)
    if not alerts:
        return 0
    for user, items in sorted(_by_recipient(session, alerts).items()):
        notifications.notify(
            session,
            template=template,
            params={"count": len(items), "names": _names(session, items)},
            user_id=user,
            channels=(SMS,),
            purpose="monitoring",
            dedupe_key=f"monitoring:{run}:{user}",
        )
    repository.mark_sms(session, [a.id for a in alerts], now)
    return len(alerts)


def deferred_sms(session: Session, *, now: datetime | None = None) -> int:
    now = now or utcnow()
    if quiet_until(now, parse_quiet_hours(get_settings().monitoring_quiet_hours)) is not None:
        return 0  # still quiet (a job run early): the next one sends them
    return send_pending_sms(
        session,
        severities=IMMEDIATE,
        run=f"deferred:{now.isoformat()}",
        template=TEMPLATE_ALERTS,
        now=now,
    )


def daily_digest(session: Session, *, now: datetime | None = None) -> int:
    now = now or utcnow()
    day: date = now.astimezone(SHANGHAI).date()
    return send_pending_sms(
        session,
        severities=("low",),
        run=f"digest:{day.isoformat()}",
        template=TEMPLATE_DIGEST,
        now=now,
    )
