"""Every query of the monitoring domain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Select,
    any_,
    cast,
    delete,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from puhui.monitoring.models import (
    Alert,
    Download,
    DownloadQuota,
    Rule,
    RuleSet,
    Snooze,
    Watch,
    WatchAssignee,
)

CHUNK = 5000  # ids in one IN list


def in_ids(session: Session, column: Any, ids: Sequence[int]) -> Any:
    """``column IN ids``: on PostgreSQL ``= ANY(array)``, one parameter (an IN list of
    thousands of placeholders costs more to parse than to run)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(cast(literal(list(ids), ARRAY(BigInteger)), ARRAY(BigInteger)))
    return column.in_(list(ids))


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


# --- watches -----------------------------------------------------------------------------


def watch(session: Session, watch_id: int) -> Watch | None:
    return session.get(Watch, watch_id)


def watch_of(session: Session, *, institution_id: int, entity_id: int) -> Watch | None:
    return session.scalar(
        select(Watch).where(Watch.institution_id == institution_id, Watch.entity_id == entity_id)
    )


def watched_entity_ids(
    session: Session, institution_id: int, entity_ids: Sequence[int]
) -> set[int]:
    found: set[int] = set()
    for part in _chunks(sorted(set(entity_ids))):
        found.update(
            session.scalars(
                select(Watch.entity_id).where(
                    Watch.institution_id == institution_id,
                    in_ids(session, Watch.entity_id, part),
                    Watch.removed_at.is_(None),
                )
            )
        )
    return found


def add_watches(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(_insert_ignore(session, Watch, ["institution_id", "entity_id"]), list(rows))


def watches_query(institution_id: int) -> Select[Any]:
    return (
        select(Watch)
        .where(Watch.institution_id == institution_id, Watch.removed_at.is_(None))
        .order_by(Watch.id.desc())
    )


def restore_watches(
    session: Session, institution_id: int, entity_ids: Sequence[int], values: dict[str, Any]
) -> None:
    """Put removed entries of these entities back on the list."""
    for part in _chunks(sorted(set(entity_ids))):
        session.execute(
            update(Watch)
            .where(
                Watch.institution_id == institution_id,
                Watch.entity_id.in_(part),
                Watch.removed_at.is_not(None),
            )
            .values(removed_at=None, **values)
        )


def watches_of(
    session: Session, *, institution_ids: Sequence[int], entity_ids: Sequence[int] | None
) -> list[tuple[int, int]]:
    """(institution, entity) of the watches of these institutions (and entities)."""
    if not institution_ids:
        return []
    stmt = select(Watch.institution_id, Watch.entity_id).where(
        Watch.institution_id.in_(list(institution_ids)), Watch.removed_at.is_(None)
    )
    if entity_ids is None:
        return [(int(i), int(e)) for i, e in session.execute(stmt)]
    out: list[tuple[int, int]] = []
    for part in _chunks(sorted(set(entity_ids))):
        out.extend(
            (int(i), int(e)) for i, e in session.execute(stmt.where(Watch.entity_id.in_(part)))
        )
    return out


def assignees(session: Session, watch_ids: Sequence[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for part in _chunks(sorted(set(watch_ids))):
        rows = session.execute(
            select(WatchAssignee.watch_id, WatchAssignee.user_id)
            .where(WatchAssignee.watch_id.in_(part))
            .order_by(WatchAssignee.user_id)
        )
        for w, u in rows:
            out.setdefault(int(w), []).append(int(u))
    return out


def assignees_by_entity(
    session: Session, institution_id: int, entity_ids: Sequence[int]
) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for part in _chunks(sorted(set(entity_ids))):
        rows = session.execute(
            select(Watch.entity_id, WatchAssignee.user_id)
            .join(WatchAssignee, WatchAssignee.watch_id == Watch.id)
            .where(
                Watch.institution_id == institution_id,
                in_ids(session, Watch.entity_id, part),
                Watch.removed_at.is_(None),
            )
        )
        for e, u in rows:
            out.setdefault(int(e), []).append(int(u))
    return out


def set_assignees(session: Session, watch_id: int, user_ids: Sequence[int]) -> None:
    session.execute(delete(WatchAssignee).where(WatchAssignee.watch_id == watch_id))
    for user_id in sorted(set(user_ids)):
        session.add(WatchAssignee(watch_id=watch_id, user_id=user_id))
    session.flush()


# --- rules -------------------------------------------------------------------------------


def rule(session: Session, rule_id: int) -> Rule | None:
    return session.get(Rule, rule_id)


def rules_of(session: Session, institution_id: int) -> list[Rule]:
    return list(
        session.scalars(select(Rule).where(Rule.institution_id == institution_id).order_by(Rule.id))
    )


def enabled_rules(session: Session, indicator_ids: Sequence[int] | None = None) -> list[Rule]:
    stmt = select(Rule).where(Rule.enabled.is_(True))
    if indicator_ids is not None:
        stmt = stmt.where(Rule.indicator_id.in_(list(indicator_ids)))
    return list(session.scalars(stmt.order_by(Rule.id)))


def rule_set(session: Session, institution_id: int, *, for_update: bool = False) -> RuleSet:
    stmt = select(RuleSet).where(RuleSet.institution_id == institution_id)
    if for_update:
        stmt = stmt.with_for_update()
    found = session.scalar(stmt)
    if found is None:
        found = RuleSet(institution_id=institution_id, version=0)
        session.add(found)
        session.flush()
    return found


def rule_set_versions(session: Session, institution_ids: Sequence[int]) -> dict[int, int]:
    rows = session.execute(
        select(RuleSet.institution_id, RuleSet.version).where(
            RuleSet.institution_id.in_(list(institution_ids))
        )
    )
    return {int(i): int(v) for i, v in rows}


def snoozes_active(session: Session, rule_ids: Sequence[int], today: date) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for part in _chunks(sorted(set(rule_ids))):
        rows = session.execute(
            select(Snooze.rule_id, Snooze.entity_id).where(
                Snooze.rule_id.in_(part), Snooze.until >= today
            )
        )
        out.extend((int(r), int(e)) for r, e in rows)
    return out


def snooze(session: Session, rule_id: int, entity_id: int) -> Snooze | None:
    return session.get(Snooze, (rule_id, entity_id))


def snoozes_of_rule(session: Session, rule_id: int) -> list[Snooze]:
    return list(session.scalars(select(Snooze).where(Snooze.rule_id == rule_id)))


# --- alerts ------------------------------------------------------------------------------


def insert_alerts(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert the alerts that do not exist yet; the ids of those inserted. A Core
    statement on the table (not the ORM's bulk path): thousands of rows in one go."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return _insert_alerts_unnest(session, rows)
    stmt = _insert_ignore(
        session, Alert.__table__, ["institution_id", "entity_id", "rule_id", "period"]
    ).returning(Alert.__table__.c.id)
    ids: list[int] = []
    for start in range(0, len(rows), CHUNK):
        result = session.connection().execute(stmt, list(rows[start : start + CHUNK]))
        ids.extend(int(i) for i in result.scalars())
    return ids


_ALERT_ARRAYS = (
    ("institution_id", "integer"),
    ("entity_id", "integer"),
    ("rule_id", "integer"),
    ("indicator_id", "smallint"),
    ("period", "integer"),
    ("kind", "text"),
    ("severity", "text"),
    ("value", "float8"),
    ("base_value", "float8"),
    ("measure", "float8"),
    ("threshold", "float8"),
    ("op", "text"),
    ("batch_id", "bigint"),
    ("rule_set_version", "integer"),
    ("status", "text"),
    ("note", "text"),
    ("created_at", "timestamptz"),
)


def _insert_alerts_unnest(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """PostgreSQL: one ``INSERT … SELECT FROM unnest(arrays)`` a chunk, one parameter per
    column (a multi-row VALUES of thousands of placeholders costs seconds to parse)."""
    names = ", ".join(n for n, _ in _ALERT_ARRAYS)
    arrays = ", ".join(f"CAST(:{n} AS {t}[])" for n, t in _ALERT_ARRAYS)
    stmt = text(
        f"INSERT INTO monitoring_alerts ({names}) SELECT * FROM unnest({arrays}) "  # noqa: S608
        "ON CONFLICT (institution_id, entity_id, rule_id, period) DO NOTHING RETURNING id"
    )
    ids: list[int] = []
    for start in range(0, len(rows), 50_000):
        part = rows[start : start + 50_000]
        params = {n: [r[n] for r in part] for n, _ in _ALERT_ARRAYS}
        ids.extend(int(i) for i in session.connection().execute(stmt, params).scalars())
    return ids


@dataclass(frozen=True)
class AlertBrief:
    id: int
    institution_id: int
    entity_id: int
    severity: str


def alert_briefs(session: Session, ids: Sequence[int]) -> list[AlertBrief]:
    out: list[AlertBrief] = []
    cols = (Alert.id, Alert.institution_id, Alert.entity_id, Alert.severity)
    for part in _chunks(sorted(ids)):
        rows = session.execute(
            select(*cols).where(in_ids(session, Alert.id, part)).order_by(Alert.id)
        )
        out.extend(AlertBrief(int(a), int(b), int(c), str(d)) for a, b, c, d in rows)
    return out


def alerts_by_ids(session: Session, ids: Sequence[int]) -> list[Alert]:
    out: list[Alert] = []
    for part in _chunks(list(ids)):
        out.extend(session.scalars(select(Alert).where(Alert.id.in_(part)).order_by(Alert.id)))
    return out


def alert(session: Session, alert_id: int, *, for_update: bool = False) -> Alert | None:
    return session.get(Alert, alert_id, with_for_update=for_update)


def alerts_query(
    institution_id: int,
    *,
    status: str | None = None,
    severity: str | None = None,
    indicator_id: int | None = None,
    rule_id: int | None = None,
    entity_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[Any]:
    stmt = select(Alert).where(Alert.institution_id == institution_id)
    if status is not None:
        stmt = stmt.where(Alert.status == status)
    if severity is not None:
        stmt = stmt.where(Alert.severity == severity)
    if indicator_id is not None:
        stmt = stmt.where(Alert.indicator_id == indicator_id)
    if rule_id is not None:
        stmt = stmt.where(Alert.rule_id == rule_id)
    if entity_id is not None:
        stmt = stmt.where(Alert.entity_id == entity_id)
    if since is not None:
        stmt = stmt.where(Alert.created_at >= since)
    if until is not None:
        stmt = stmt.where(Alert.created_at < until)
    return stmt.order_by(Alert.id.desc())


def alert_ids(session: Session, stmt: Select[Any]) -> list[int]:
    sub = stmt.order_by(None).with_only_columns(Alert.id).order_by(Alert.id)
    return [int(i) for i in session.scalars(sub)]


def pending_sms(
    session: Session, *, severities: Sequence[str], before: datetime, limit: int = 50_000
) -> list[AlertBrief]:
    rows = session.execute(
        select(Alert.id, Alert.institution_id, Alert.entity_id, Alert.severity)
        .where(
            Alert.sms_at.is_(None),
            Alert.severity.in_(list(severities)),
            Alert.created_at <= before,
        )
        .order_by(Alert.id)
        .limit(limit)
    )
    return [AlertBrief(int(a), int(b), int(c), str(d)) for a, b, c, d in rows]


def mark_sms(session: Session, ids: Sequence[int], when: datetime) -> None:
    for part in _chunks(list(ids)):
        session.execute(
            update(Alert)
            .where(in_ids(session, Alert.id, part))
            .values(sms_at=when)
            .execution_options(synchronize_session=False)  # no per-object evaluation
        )
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Alert):  # alerts loaded before see the new column
            session.expire(obj, ["sms_at"])


def alert_rows_for_stats(
    session: Session, institution_id: int, since: datetime, until: datetime
) -> list[tuple[datetime, int, int, str, str]]:
    """(created_at, entity, indicator, severity, status) of the period's alerts."""
    rows = session.execute(
        select(
            Alert.created_at, Alert.entity_id, Alert.indicator_id, Alert.severity, Alert.status
        ).where(
            Alert.institution_id == institution_id,
            Alert.created_at >= since,
            Alert.created_at < until,
        )
    )
    return [(r[0], int(r[1]), int(r[2]), str(r[3]), str(r[4])) for r in rows]


def count_by(
    session: Session, institution_id: int, column: Any, since: datetime, until: datetime
) -> list[tuple[Any, int]]:
    rows = session.execute(
        select(column, func.count())
        .where(
            Alert.institution_id == institution_id,
            Alert.created_at >= since,
            Alert.created_at < until,
        )
        .group_by(column)
    )
    return [(r[0], int(r[1])) for r in rows]


# --- the dialect seam --------------------------------------------------------------------


def _insert_ignore(session: Session, model: Any, keys: list[str]) -> Any:
    """``INSERT … ON CONFLICT (keys) DO NOTHING`` on PostgreSQL and SQLite alike."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(model).on_conflict_do_nothing(index_elements=keys)


# --- batch downloads -----------------------------------------------------------------------


def take_download_quota(
    session: Session, institution_id: int, day: date, rows: int, limit: int
) -> bool:
    """Add ``rows`` to the institution's download count of the day unless that passes
    ``limit``: one conditional UPDATE, so concurrent downloads are serialised by the
    database and the count never passes the limit."""
    if session.get(DownloadQuota, (institution_id, day)) is None:
        try:
            with session.begin_nested():
                session.add(DownloadQuota(institution_id=institution_id, day=day, rows_used=0))
        except IntegrityError:
            pass  # another download created the day's row first
    result = session.execute(
        update(DownloadQuota)
        .where(
            DownloadQuota.institution_id == institution_id,
            DownloadQuota.day == day,
            DownloadQuota.rows_used + rows <= limit,
        )
        .values(rows_used=DownloadQuota.rows_used + rows)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def download_quota_used(session: Session, institution_id: int, day: date) -> int:
    used = session.scalar(
        select(DownloadQuota.rows_used).where(
            DownloadQuota.institution_id == institution_id, DownloadQuota.day == day
        )
    )
    return int(used or 0)


def watched_ids_of(session: Session, institution_id: int) -> list[int]:
    """The entities on an institution's watchlist now."""
    return [
        int(e)
        for e in session.scalars(
            select(Watch.entity_id)
            .where(Watch.institution_id == institution_id, Watch.removed_at.is_(None))
            .order_by(Watch.entity_id)
        )
    ]


def downloads_query(institution_id: int) -> Select[Any]:
    return (
        select(Download)
        .where(Download.institution_id == institution_id)
        .order_by(Download.id.desc())
    )


def download_by_public_id(session: Session, public_id: str) -> Download | None:
    return session.scalar(select(Download).where(Download.public_id == public_id))


def drop_expired_packages(session: Session, now: datetime) -> int:
    result = session.execute(
        update(Download)
        .where(Download.expires_at <= now, Download.package.is_not(None))
        .values(package=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
