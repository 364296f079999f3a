"""Risk warning: watchlists, rule sets, alerts and their statistics.

Invariants
- Everything is scoped to the caller's institution; another institution's watch, rule or
  alert answers 404. Only staff of lending institutions monitor.
- A watch is monitored exactly while the institution holds a live ``monitoring``
  authorization of the entity (computed, never stored: see ``evaluation``).
- Every change of an institution's rules bumps its rule-set version, stamps the rule with
  it and queues one full re-evaluation of that version (its dedupe key), in the same
  transaction; every change is audited in that transaction too.
- Services flush, never commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from puhui.accounts import service as accounts
from puhui.audit import service as audit
from puhui.catalog import service as catalog
from puhui.config import get_settings
from puhui.consent import service as consent
from puhui.core import jobs
from puhui.core.errors import PuhuiError
from puhui.core.i18n import N_, gettext
from puhui.core.lake import Lake
from puhui.core.orm import utcnow
from puhui.core.pagination import Page, PageParams, paginate
from puhui.core.policy import LENDING_KINDS, Actor, Role
from puhui.entities import service as entities
from puhui.ingest import service as ingest
from puhui.monitoring import evaluation, machine, repository, upload
from puhui.monitoring.errors import (
    AlertNotFound,
    AlreadyWatched,
    InvalidMonitoringInput,
    NotALender,
    NotWatched,
    RuleNotFound,
    WatchNotFound,
)
from puhui.monitoring.models import Alert, Rule, Snooze, Watch
from puhui.monitoring.schemas import (
    STATES,
    TEMPLATE_BY_CODE,
    TEMPLATES,
    AlertAction,
    AlertFilter,
    AlertRead,
    AlertStats,
    BulkAlertAction,
    BulkResult,
    DayCount,
    KeyCount,
    RuleCreate,
    RuleRead,
    RuleSetRead,
    RuleUpdate,
    SnoozeCreate,
    SnoozeRead,
    TemplateRead,
    UploadResult,
    UploadRowError,
    WatchCreate,
    WatchRead,
    WatchSource,
    WatchState,
)

SHANGHAI = evaluation.SHANGHAI
EVALUATE_BATCH_JOB = "monitoring.evaluate_batch"
EVALUATE_ALL_JOB = "monitoring.evaluate_all"
DIGEST_JOB = "monitoring.digest"
WATCH_GRANTED_JOB = "monitoring.watch_granted"
MAX_BULK = 100_000
MAX_UPLOAD_BYTES = upload.MAX_BYTES
MAX_STATS_DAYS = 366


@dataclass(frozen=True)
class Trend:
    name: str
    unit_label: str
    periods: list[int]
    values: list[float | None]


@dataclass(frozen=True)
class AlertDetail:
    alert: AlertRead
    trend: Trend | None  # None: no live authorization to read the history now
    source: str | None  # the data source of the batch that raised it


# --- helpers -----------------------------------------------------------------------------


def institution_of(actor: Actor) -> int:
    if actor.institution_id is None or actor.institution_kind not in LENDING_KINDS:
        raise NotALender()
    return actor.institution_id


def _local_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI)


def _warning_indicator(session: Session, code: str, field: str = "indicator") -> Any:
    try:
        indicator = catalog.get(session, code=code)
    except PuhuiError as exc:
        raise InvalidMonitoringInput.at(field, N_("Unknown indicator {code}."), code=code) from exc
    if not indicator.is_warning or indicator.retired:
        raise InvalidMonitoringInput.at(
            field, N_("{code} is not one of the warning indicators."), code=code
        )
    return indicator


def _entity(session: Session, uscc: str, field: str = "uscc") -> Any:
    try:
        return entities.get_public(session, code=uscc)
    except PuhuiError as exc:
        raise InvalidMonitoringInput.at(field, exc.message, **exc.params) from exc


def _audit(
    session: Session,
    actor: Actor | None,
    action: str,
    target: str,
    target_id: object,
    **details: Any,
) -> None:
    audit.record(
        session,
        actor=actor,
        username=None if actor else "system",
        action=f"monitoring.{action}",
        target_type=target,
        target_id=target_id,
        details=details or None,
    )


# --- watchlist ---------------------------------------------------------------------------


def _check_assignees(session: Session, institution_id: int, user_ids: Sequence[int]) -> list[int]:
    staff = {
        u
        for u, _ in accounts.institution_staff(
            session, institution_id=institution_id, role=Role.RISK_MANAGER.value
        )
    }
    for n, user_id in enumerate(user_ids):
        if user_id not in staff:
            raise InvalidMonitoringInput.at(
                f"assignees.{n}",
                N_("User {id} is not an active risk manager of your institution."),
                id=user_id,
            )
    return sorted(set(user_ids))


def add_watch(
    session: Session, *, actor: Actor, data: WatchCreate, source: WatchSource = WatchSource.API
) -> WatchRead:
    institution_id = institution_of(actor)
    entity = _entity(session, data.uscc)
    watch = repository.watch_of(session, institution_id=institution_id, entity_id=entity.id)
    if watch is not None and watch.removed_at is None:
        raise AlreadyWatched(uscc=entity.uscc)
    assignees = _check_assignees(session, institution_id, data.assignees)
    if watch is None:
        watch = Watch(institution_id=institution_id, entity_id=entity.id)
        session.add(watch)
    watch.source = source.value
    watch.added_by = actor.user_id
    watch.note = data.note.strip()
    watch.removed_at = None
    session.flush()
    repository.set_assignees(session, watch.id, assignees)
    _audit(session, actor, "watch.add", "entity", entity.uscc, source=source.value)
    return _watch_reads(session, [watch])[0]


def upload_watches(
    session: Session, *, actor: Actor, filename: str, content: bytes
) -> UploadResult:
    """Add the USCCs of an uploaded file: good rows are kept, each bad row is reported
    with its row number and reason."""
    institution_id = institution_of(actor)
    locale = get_settings().default_locale
    try:
        rows = upload.read_rows(filename, content)
    except upload.UploadRejected as exc:
        raise InvalidMonitoringInput.at("file", exc.message, **exc.params) from exc
    errors: list[UploadRowError] = []
    found: dict[int, tuple[upload.Row, int]] = {}
    for row in rows:
        try:
            entity = entities.get_public(session, code=row.uscc)
        except PuhuiError as exc:
            message = exc.message if row.uscc else N_("The USCC is missing.")
            errors.append(
                UploadRowError(
                    row=row.row, field="uscc", message=gettext(locale, message, **exc.params)
                )
            )
            continue
        found.setdefault(entity.id, (row, entity.id))
    present = repository.watched_entity_ids(session, institution_id, list(found))
    new = [(row, eid) for eid, (row, _) in found.items() if eid not in present]
    repository.restore_watches(
        session,
        institution_id,
        [eid for _, eid in new],
        {"source": WatchSource.UPLOAD.value, "added_by": actor.user_id},
    )
    repository.add_watches(
        session,
        [
            {
                "institution_id": institution_id,
                "entity_id": eid,
                "source": WatchSource.UPLOAD.value,
                "added_by": actor.user_id,
                "note": row.note,
                "created_at": utcnow(),
            }
            for row, eid in new
        ],
    )
    _audit(
        session,
        actor,
        "watch.upload",
        "institution",
        institution_id,
        filename=filename[:100],
        added=len(new),
        errors=len(errors),
    )
    return UploadResult(added=len(new), already=len(found) - len(new), errors=errors)


def watch_granted_loan(session: Session, payload: dict[str, Any]) -> None:
    """A loan was granted through matching: watch its borrower (assigned to the claim's
    manager when that user is a risk manager); idempotent."""
    institution_id = int(payload["institution_id"])
    entity_id = int(payload["entity_id"])
    watch = repository.watch_of(session, institution_id=institution_id, entity_id=entity_id)
    if watch is not None and watch.removed_at is None:
        return
    if watch is None:
        watch = Watch(institution_id=institution_id, entity_id=entity_id, note="")
        session.add(watch)
    watch.source = WatchSource.MATCHING.value
    watch.claim_id = payload.get("claim_id")
    watch.added_by = None
    watch.removed_at = None
    session.flush()
    user = payload.get("user_id")
    staff = {
        u
        for u, _ in accounts.institution_staff(
            session, institution_id=institution_id, role=Role.RISK_MANAGER.value
        )
    }
    if user in staff:
        repository.set_assignees(session, watch.id, [int(user)])
    _audit(
        session,
        None,
        "watch.add",
        "entity",
        entity_id,
        source="matching",
        claim_id=payload.get("claim_id"),
    )


def _watch_reads(session: Session, watches: Sequence[Watch]) -> list[WatchRead]:
    if not watches:
        return []
    briefs = entities.briefs(session, [w.entity_id for w in watches])
    live = consent.live_pairs(
        session,
        purpose=consent.Purpose.MONITORING,
        institution_ids={w.institution_id for w in watches},
        entity_ids=[w.entity_id for w in watches],
    )
    who = repository.assignees(session, [w.id for w in watches])
    return [
        WatchRead(
            id=w.id,
            uscc=briefs.get(w.entity_id, ("", ""))[0],
            name=briefs.get(w.entity_id, ("", ""))[1],
            state=WatchState.MONITORED
            if (w.institution_id, w.entity_id) in live
            else WatchState.PENDING,
            source=WatchSource(w.source),
            assignees=who.get(w.id, []),
            note=w.note,
            created_at=w.created_at,
        )
        for w in watches
    ]


def list_watches(session: Session, *, actor: Actor, params: PageParams) -> Page[WatchRead]:
    page = paginate(session, repository.watches_query(institution_of(actor)), params)
    return Page(_watch_reads(session, page.items), page.total, page.page, page.per_page)


def _own_watch(session: Session, actor: Actor, watch_id: int) -> Watch:
    watch = repository.watch(session, watch_id)
    if watch is None or watch.institution_id != institution_of(actor):
        raise WatchNotFound()
    return watch


def assign_watch(
    session: Session, *, actor: Actor, watch_id: int, user_ids: Sequence[int]
) -> WatchRead:
    watch = _own_watch(session, actor, watch_id)
    if watch.removed_at is not None:
        raise NotWatched()
    chosen = _check_assignees(session, watch.institution_id, user_ids)
    repository.set_assignees(session, watch.id, chosen)
    _audit(session, actor, "watch.assign", "watch", watch.id, assignees=chosen)
    return _watch_reads(session, [watch])[0]


def remove_watch(session: Session, *, actor: Actor, watch_id: int) -> None:
    watch = _own_watch(session, actor, watch_id)
    if watch.removed_at is None:  # removing twice is removing once
        watch.removed_at = utcnow()
        session.flush()
        _audit(session, actor, "watch.remove", "watch", watch_id, entity_id=watch.entity_id)


def risk_managers(session: Session, *, actor: Actor) -> list[tuple[int, str]]:
    return accounts.institution_staff(
        session, institution_id=institution_of(actor), role=Role.RISK_MANAGER.value
    )


# --- rules -------------------------------------------------------------------------------


def templates() -> list[TemplateRead]:
    return [
        TemplateRead(
            code=t.code,
            name=t.name,
            indicator=t.indicator,
            kind=t.kind,
            op=t.op,
            threshold=t.threshold,
            severity=t.severity,
        )
        for t in TEMPLATES
    ]


def _rule_read(rule: Rule, indicators: dict[int, Any], locale: str) -> RuleRead:
    indicator = indicators[rule.indicator_id]
    return RuleRead(
        id=rule.id,
        name=rule.name,
        indicator=indicator.code,
        indicator_name=indicator.name_zh if locale.startswith("zh") else indicator.name_en,
        kind=rule.kind,
        op=rule.op,
        threshold=rule.threshold,
        severity=rule.severity,
        enabled=rule.enabled,
        template=rule.template,
        revision=rule.revision,
        updated_at=rule.updated_at,
    )


def _indicator_map(session: Session) -> dict[int, Any]:
    return {i.id: i for i in catalog.active_indicators(session)}


def list_rules(session: Session, *, actor: Actor, locale: str | None = None) -> RuleSetRead:
    institution_id = institution_of(actor)
    locale = locale or get_settings().default_locale
    indicators = _indicator_map(session)
    version = repository.rule_set_versions(session, [institution_id]).get(institution_id, 0)
    return RuleSetRead(
        version=version,
        rules=[
            _rule_read(r, indicators, locale)
            for r in repository.rules_of(session, institution_id)
            if r.indicator_id in indicators
        ],
    )


def _bump(session: Session, institution_id: int) -> int:
    rule_set = repository.rule_set(session, institution_id, for_update=True)
    rule_set.version += 1
    rule_set.updated_at = utcnow()
    session.flush()
    jobs.enqueue(
        session,
        EVALUATE_ALL_JOB,
        {"institution_id": institution_id, "version": rule_set.version},
        dedupe_key=f"{EVALUATE_ALL_JOB}:{institution_id}:{rule_set.version}",
    )
    return rule_set.version


def create_rule(
    session: Session, *, actor: Actor, data: RuleCreate, locale: str | None = None
) -> RuleRead:
    institution_id = institution_of(actor)
    locale = locale or get_settings().default_locale
    fields: dict[str, Any] = {}
    if data.template is not None:
        template = TEMPLATE_BY_CODE.get(data.template)
        if template is None:
            raise InvalidMonitoringInput.at(
                "template", N_("Unknown rule template {code}."), code=data.template
            )
        fields = {
            "name": gettext(locale, template.name),
            "indicator": template.indicator,
            "kind": template.kind,
            "op": template.op,
            "threshold": template.threshold,
            "severity": template.severity,
        }
    given = data.model_dump(exclude_none=True, exclude={"template", "enabled"})
    fields.update({k: (v.value if hasattr(v, "value") else v) for k, v in given.items()})
    for name in ("name", "indicator", "kind", "severity"):
        if not fields.get(name):
            raise InvalidMonitoringInput.at(name, N_("This field is required."))
    if fields["kind"] != "new_event":
        if fields.get("op") is None:
            raise InvalidMonitoringInput.at("op", N_("This field is required."))
        if fields.get("threshold") is None:
            raise InvalidMonitoringInput.at("threshold", N_("This field is required."))
    indicator = _warning_indicator(session, str(fields["indicator"]))
    if fields["kind"] == "new_event" and indicator.value_type not in ("flag", "count"):
        raise InvalidMonitoringInput.at(
            "kind",
            N_("A new-record rule needs a flag or count indicator; {code} is neither."),
            code=indicator.code,
        )
    version = _bump(session, institution_id)
    rule = Rule(
        institution_id=institution_id,
        name=str(fields["name"])[:100],
        indicator_id=indicator.id,
        kind=str(fields["kind"]),
        op=str(fields.get("op") or "gt"),
        threshold=float(fields.get("threshold") or 0.0),
        severity=str(fields["severity"]),
        enabled=data.enabled,
        template=data.template,
        revision=version,
        created_by=actor.user_id,
        updated_at=utcnow(),
    )
    session.add(rule)
    session.flush()
    _audit(
        session,
        actor,
        "rule.create",
        "rule",
        rule.id,
        version=version,
        indicator=indicator.code,
        kind=rule.kind,
        op=rule.op,
        threshold=rule.threshold,
        severity=rule.severity,
    )
    return _rule_read(rule, {indicator.id: indicator}, locale)


def _own_rule(session: Session, actor: Actor, rule_id: int) -> Rule:
    rule = repository.rule(session, rule_id)
    if rule is None or rule.institution_id != institution_of(actor):
        raise RuleNotFound()
    return rule


def update_rule(
    session: Session, *, actor: Actor, rule_id: int, data: RuleUpdate, locale: str | None = None
) -> RuleRead:
    rule = _own_rule(session, actor, rule_id)
    changes = {
        k: (v.value if hasattr(v, "value") else v)
        for k, v in data.model_dump(exclude_none=True).items()
    }
    before = {k: getattr(rule, k) for k in changes}
    for key, value in changes.items():
        setattr(rule, key, value)
    if changes:
        rule.revision = _bump(session, rule.institution_id)
        rule.updated_at = utcnow()
        session.flush()
        _audit(
            session,
            actor,
            "rule.update",
            "rule",
            rule.id,
            before=before,
            after=changes,
            version=rule.revision,
        )
    return _rule_read(rule, _indicator_map(session), locale or get_settings().default_locale)


def snooze_rule(session: Session, *, actor: Actor, rule_id: int, data: SnoozeCreate) -> SnoozeRead:
    rule = _own_rule(session, actor, rule_id)
    entity = _entity(session, data.uscc)
    today = utcnow().astimezone(SHANGHAI).date()
    if data.until < today:
        raise InvalidMonitoringInput.at("until", N_("Snooze until today or a later date."))
    if data.until > today + timedelta(days=366):
        raise InvalidMonitoringInput.at("until", N_("Snooze for at most a year."))
    found = repository.snooze(session, rule.id, entity.id)
    if found is None:
        session.add(
            Snooze(rule_id=rule.id, entity_id=entity.id, until=data.until, created_by=actor.user_id)
        )
    else:
        found.until = data.until
        found.created_by = actor.user_id
    session.flush()
    _audit(
        session,
        actor,
        "rule.snooze",
        "rule",
        rule.id,
        uscc=entity.uscc,
        until=data.until.isoformat(),
    )
    return SnoozeRead(rule_id=rule.id, uscc=entity.uscc, until=data.until)


def unsnooze_rule(session: Session, *, actor: Actor, rule_id: int, uscc: str) -> None:
    rule = _own_rule(session, actor, rule_id)
    entity = _entity(session, uscc)
    found = repository.snooze(session, rule.id, entity.id)
    if found is not None:
        session.delete(found)
        session.flush()
        _audit(session, actor, "rule.unsnooze", "rule", rule.id, uscc=entity.uscc)


def snoozes(session: Session, *, actor: Actor, rule_id: int) -> list[SnoozeRead]:
    rule = _own_rule(session, actor, rule_id)
    rows = repository.snoozes_of_rule(session, rule.id)
    briefs = entities.briefs(session, [s.entity_id for s in rows])
    return [
        SnoozeRead(rule_id=rule.id, uscc=briefs.get(s.entity_id, ("", ""))[0], until=s.until)
        for s in rows
    ]


# --- evaluation jobs -----------------------------------------------------------------------


def _lake() -> Lake:
    return ingest.open_lake()


def evaluate_batch(
    session: Session, *, lake_version: int, lake: Lake | None = None
) -> evaluation.Outcome:
    return evaluation.evaluate_batch(session, lake=lake or _lake(), lake_version=lake_version)


def evaluate_all(session: Session, *, run: str, lake: Lake | None = None) -> evaluation.Outcome:
    return evaluation.evaluate_all(session, lake=lake or _lake(), run=run)


def queue_full_evaluation(session: Session, *, actor: Actor | None, reason: str) -> None:
    """A full re-evaluation (e.g. after a catalog change), once per minute at most."""
    slot = int(utcnow().timestamp()) // 60
    jobs.enqueue(
        session, EVALUATE_ALL_JOB, {"reason": reason}, dedupe_key=f"{EVALUATE_ALL_JOB}:all:{slot}"
    )
    _audit(session, actor, "evaluate_all", "monitoring", "all", reason=reason)


# --- alerts ------------------------------------------------------------------------------


def _filter_args(session: Session, institution_id: int, f: AlertFilter) -> dict[str, Any]:
    args: dict[str, Any] = {
        "status": f.status,
        "severity": f.severity.value if f.severity else None,
        "rule_id": f.rule_id,
    }
    if f.indicator:
        args["indicator_id"] = _warning_indicator(session, f.indicator).id
    if f.uscc:
        args["entity_id"] = _entity(session, f.uscc).id
    if f.since:
        args["since"] = _local_day_start(f.since)
    if f.until:
        args["until"] = _local_day_start(f.until + timedelta(days=1))
    return args


def _alert_reads(session: Session, alerts: Sequence[Alert], locale: str) -> list[AlertRead]:
    if not alerts:
        return []
    briefs = entities.briefs(session, [a.entity_id for a in alerts])
    indicators = _indicator_map(session)
    rules = {a.rule_id: repository.rule(session, a.rule_id) for a in alerts}
    out = []
    for a in alerts:
        indicator = indicators.get(a.indicator_id)
        rule = rules.get(a.rule_id)
        out.append(
            AlertRead(
                id=a.id,
                uscc=briefs.get(a.entity_id, ("", ""))[0],
                entity_name=briefs.get(a.entity_id, ("", ""))[1],
                rule_id=a.rule_id,
                rule_name=rule.name if rule else "",
                indicator=indicator.code if indicator else str(a.indicator_id),
                indicator_name=(
                    (indicator.name_zh if locale.startswith("zh") else indicator.name_en)
                    if indicator
                    else ""
                ),
                period=a.period,
                kind=a.kind,
                op=a.op,
                threshold=a.threshold,
                severity=a.severity,
                value=a.value,
                base_value=a.base_value,
                measure=a.measure,
                batch_id=a.batch_id,
                rule_set_version=a.rule_set_version,
                status=a.status,
                outcome=a.outcome,
                note=a.note,
                created_at=a.created_at,
                acknowledged_at=a.acknowledged_at,
                handled_at=a.handled_at,
                closed_at=a.closed_at,
            )
        )
    return out


def list_alerts(
    session: Session,
    *,
    actor: Actor,
    filter: AlertFilter,
    params: PageParams,
    locale: str | None = None,
) -> Page[AlertRead]:
    institution_id = institution_of(actor)
    stmt = repository.alerts_query(institution_id, **_filter_args(session, institution_id, filter))
    page = paginate(session, stmt, params)
    reads = _alert_reads(session, page.items, locale or get_settings().default_locale)
    return Page(reads, page.total, page.page, page.per_page)


def _own_alert(session: Session, actor: Actor, alert_id: int, *, for_update: bool = False) -> Alert:
    alert = repository.alert(session, alert_id, for_update=for_update)
    if alert is None or alert.institution_id != institution_of(actor):
        raise AlertNotFound()
    return alert


def get_alert(
    session: Session, *, actor: Actor, alert_id: int, locale: str | None = None
) -> AlertDetail:
    """The alert, its source batch and — when a live monitoring authorization still
    covers the entity — the indicator's history (a logged read)."""
    locale = locale or get_settings().default_locale
    alert = _own_alert(session, actor, alert_id)
    read = _alert_reads(session, [alert], locale)[0]
    indicator = _indicator_map(session).get(alert.indicator_id)
    trend: Trend | None = None
    if indicator is not None and actor.role is Role.RISK_MANAGER:
        try:
            scope = consent.authorize_read(
                session,
                actor,
                entity_id=alert.entity_id,
                uscc=read.uscc,
                purpose=consent.Purpose.MONITORING,
                categories=[indicator.category],
            )
        except PuhuiError:
            scope = None
        if scope is not None:
            rows = _lake().history(alert.entity_id, [alert.indicator_id])
            consent.record_query(
                session,
                actor,
                scope,
                kind="alert",
                categories=[indicator.category],
                details={"alert_id": alert.id, "indicator": indicator.code},
            )
            values = rows.get_column("value_num").to_list() if rows.height else []
            trend = Trend(
                name=read.indicator_name,
                unit_label=indicator.unit,
                periods=[int(p) for p in rows.get_column("period").to_list()]
                if rows.height
                else [],
                values=[None if v is None else float(v) for v in values],
            )
    source = None
    if alert.batch_id is not None:
        lineage = ingest.lineage(session, [alert.batch_id]).get(alert.batch_id)
        source = f"{lineage.department} · {lineage.source_name}" if lineage else None
    return AlertDetail(alert=read, trend=trend, source=source)


def _apply(alert: Alert, step: machine.Step, actor: Actor, now: datetime) -> None:
    alert.status = step.status
    alert.acted_by = actor.user_id
    if step.note:
        alert.note = (alert.note + "\n" if alert.note else "") + step.note
    if step.status == machine.ACKNOWLEDGED:
        alert.acknowledged_at = now
    elif step.status == machine.HANDLED:
        alert.handled_at = now
        alert.outcome = step.outcome
    elif step.status == machine.CLOSED:
        alert.closed_at = now


def _step(status: str, data: AlertAction) -> machine.Step:
    try:
        return machine.step(status, data.action, outcome=data.outcome, note=data.note)
    except machine.TransitionRefused as exc:
        raise InvalidMonitoringInput.at(exc.field, exc.message, **exc.params) from exc


def act_on_alert(
    session: Session, *, actor: Actor, alert_id: int, data: AlertAction, locale: str | None = None
) -> AlertRead:
    alert = _own_alert(session, actor, alert_id, for_update=True)
    before = alert.status
    step = _step(before, data)
    _apply(alert, step, actor, utcnow())
    session.flush()
    _audit(
        session,
        actor,
        f"alert.{data.action}",
        "alert",
        alert.id,
        before=before,
        after=step.status,
        outcome=step.outcome,
    )
    return _alert_reads(session, [alert], locale or get_settings().default_locale)[0]


def bulk_act(session: Session, *, actor: Actor, data: BulkAlertAction) -> BulkResult:
    """One action on many alerts (the listed ids, or all matching a filter across pages);
    alerts the action does not fit are skipped and counted."""
    institution_id = institution_of(actor)
    if data.all_matching:
        stmt = repository.alerts_query(
            institution_id, **_filter_args(session, institution_id, data.filter)
        )
        ids = repository.alert_ids(session, stmt)
    else:
        ids = sorted(set(data.ids))
    if not ids:
        raise InvalidMonitoringInput.at("ids", N_("Select at least one alert."))
    if len(ids) > MAX_BULK:
        raise InvalidMonitoringInput.at("ids", N_("At most {n} alerts at once."), n=MAX_BULK)
    before_state = machine.NEXT[data.action][0]
    step = _step(before_state, data)  # checks outcome and note once
    now = utcnow()
    changed = 0
    for start in range(0, len(ids), 1000):
        for alert in repository.alerts_by_ids(session, ids[start : start + 1000]):
            if alert.institution_id != institution_id or alert.status != before_state:
                continue
            _apply(alert, step, actor, now)
            changed += 1
        session.flush()
    _audit(
        session,
        actor,
        f"alert.bulk_{data.action}",
        "institution",
        institution_id,
        changed=changed,
        selected=len(ids),
        outcome=step.outcome,
    )
    return BulkResult(changed=changed, skipped=len(ids) - changed)


# --- statistics --------------------------------------------------------------------------


def stats(
    session: Session,
    *,
    actor: Actor,
    since: date | None,
    until: date | None,
    locale: str | None = None,
) -> AlertStats:
    institution_id = institution_of(actor)
    locale = locale or get_settings().default_locale
    today = utcnow().astimezone(SHANGHAI).date()
    until = until or today
    since = since or until - timedelta(days=29)
    if since > until:
        raise InvalidMonitoringInput.at("since", N_("The start date is after the end date."))
    if (until - since).days >= MAX_STATS_DAYS:
        raise InvalidMonitoringInput.at("since", N_("At most {n} days at once."), n=MAX_STATS_DAYS)
    rows = repository.alert_rows_for_stats(
        session,
        institution_id,
        _local_day_start(since),
        _local_day_start(until + timedelta(days=1)),
    )
    per_day_alerts: Counter[date] = Counter()
    per_day_entities: dict[date, set[int]] = {}
    by_indicator: Counter[int] = Counter()
    by_severity: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    for created, entity, indicator, severity, status in rows:
        day = created.astimezone(SHANGHAI).date()
        per_day_alerts[day] += 1
        per_day_entities.setdefault(day, set()).add(entity)
        by_indicator[indicator] += 1
        by_severity[severity] += 1
        by_status[status] += 1
    indicators = _indicator_map(session)
    days = [since + timedelta(days=n) for n in range((until - since).days + 1)]

    def name(i: int) -> str:
        ind = indicators.get(i)
        if ind is None:
            return str(i)
        return str(ind.name_zh if locale.startswith("zh") else ind.name_en)

    return AlertStats(
        since=since,
        until=until,
        total=len(rows),
        entities=len({r[1] for r in rows}),
        per_day=[
            DayCount(day=d, alerts=per_day_alerts[d], entities=len(per_day_entities.get(d, ())))
            for d in days
        ],
        by_indicator=[
            KeyCount(key=indicators[i].code if i in indicators else str(i), label=name(i), alerts=n)
            for i, n in by_indicator.most_common()
        ],
        by_severity=[
            KeyCount(key=s, label=gettext(locale, s), alerts=by_severity[s])
            for s in ("high", "medium", "low")
        ],
        by_status=[
            KeyCount(key=s, label=gettext(locale, machine.LABELS[s]), alerts=by_status[s])
            for s in STATES
        ],
    )
