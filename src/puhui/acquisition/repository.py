"""Acquisition queries: the marketing opt-outs and their change counter, saved filters and
their runs, the daily export quota and invitations."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from puhui.acquisition.models import (
    ExportQuota,
    FilterRun,
    Invitation,
    MarketingOptOut,
    MarketingState,
    SavedFilter,
)


def optout(session: Session, entity_id: int) -> MarketingOptOut | None:
    return session.get(MarketingOptOut, entity_id)


def add_optout(session: Session, *, entity_id: int, user_id: int | None) -> MarketingOptOut:
    row = MarketingOptOut(entity_id=entity_id, user_id=user_id)
    session.add(row)
    session.flush()
    return row


def remove_optout(session: Session, row: MarketingOptOut) -> None:
    session.delete(row)
    session.flush()


def optout_ids(session: Session) -> list[int]:
    return list(session.scalars(select(MarketingOptOut.entity_id)))


def state_token(session: Session) -> str:
    row = session.execute(
        select(MarketingState.version, MarketingState.token).where(MarketingState.id == 1)
    ).first()
    return f"{row.version}:{row.token}" if row else "0:"


def bump_state(session: Session) -> None:
    state = session.get(MarketingState, 1, with_for_update=True)
    if state is None:
        state = MarketingState(id=1, version=0)
        session.add(state)
    state.version += 1
    state.token = secrets.token_hex(16)
    session.flush()


# --- saved filters and runs ---------------------------------------------------------------------


def saved_filter(session: Session, filter_id: int) -> SavedFilter | None:
    return session.get(SavedFilter, filter_id)


def saved_filters(session: Session, institution_id: int) -> list[SavedFilter]:
    return list(
        session.scalars(
            select(SavedFilter)
            .where(SavedFilter.institution_id == institution_id, SavedFilter.archived.is_(False))
            .order_by(SavedFilter.id.desc())
        )
    )


def saved_name_taken(
    session: Session, institution_id: int, name: str, *, other_than: int | None = None
) -> bool:
    stmt = select(SavedFilter.id).where(
        SavedFilter.institution_id == institution_id,
        SavedFilter.name == name,
        SavedFilter.archived.is_(False),
    )
    if other_than is not None:
        stmt = stmt.where(SavedFilter.id != other_than)
    return session.scalar(stmt.limit(1)) is not None


def due_filters(session: Session, now: datetime, *, limit: int = 100) -> list[SavedFilter]:
    """Scheduled filters whose time has come, oldest first, each locked for this run
    (``SKIP LOCKED``: two workers never run the same one)."""
    return list(
        session.scalars(
            select(SavedFilter)
            .where(
                SavedFilter.archived.is_(False),
                SavedFilter.schedule != "none",
                SavedFilter.next_run_at <= now,
            )
            .order_by(SavedFilter.next_run_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def run(session: Session, run_id: int) -> FilterRun | None:
    return session.get(FilterRun, run_id)


def runs_of(session: Session, filter_id: int, *, limit: int = 30) -> list[FilterRun]:
    return list(
        session.scalars(
            select(FilterRun)
            .where(FilterRun.saved_filter_id == filter_id)
            .order_by(FilterRun.id.desc())
            .limit(limit)
        )
    )


def runs_by_id(session: Session, ids: set[int]) -> dict[int, FilterRun]:
    if not ids:
        return {}
    return {r.id: r for r in session.scalars(select(FilterRun).where(FilterRun.id.in_(ids)))}


def add(session: Session, row: object) -> None:
    session.add(row)
    session.flush()


# --- the export quota ---------------------------------------------------------------------------


def take_quota(session: Session, institution_id: int, day: date, rows: int, limit: int) -> bool:
    """Add ``rows`` to the institution's count of the day unless that passes ``limit``: one
    conditional UPDATE, so concurrent exports are serialised by the database."""
    exists = session.get(ExportQuota, (institution_id, day))
    if exists is None:
        try:
            with session.begin_nested():
                session.add(ExportQuota(institution_id=institution_id, day=day, rows_used=0))
        except IntegrityError:
            pass  # another export created the day's row first
    result = session.execute(
        update(ExportQuota)
        .where(
            ExportQuota.institution_id == institution_id,
            ExportQuota.day == day,
            ExportQuota.rows_used + rows <= limit,
        )
        .values(rows_used=ExportQuota.rows_used + rows)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def quota_used(session: Session, institution_id: int, day: date) -> int:
    used = session.scalar(
        select(ExportQuota.rows_used).where(
            ExportQuota.institution_id == institution_id, ExportQuota.day == day
        )
    )
    return int(used or 0)


# --- invitations --------------------------------------------------------------------------------


def invitation(
    session: Session, invitation_id: int, *, for_update: bool = False
) -> Invitation | None:
    return session.get(Invitation, invitation_id, with_for_update=for_update)


def invitations_query(
    *,
    institution_id: int | None = None,
    entity_id: int | None = None,
    status: str | None = None,
) -> Select[Any]:
    stmt = select(Invitation).order_by(Invitation.id.desc())
    if institution_id is not None:
        stmt = stmt.where(Invitation.institution_id == institution_id)
    if entity_id is not None:
        stmt = stmt.where(Invitation.entity_id == entity_id)
    if status is not None:
        stmt = stmt.where(Invitation.status == status)
    return stmt


def invitations_since(session: Session, institution_id: int, since: datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Invitation)
            .where(Invitation.institution_id == institution_id, Invitation.created_at >= since)
        )
        or 0
    )


def last_declined(session: Session, institution_id: int, entity_id: int) -> datetime | None:
    return session.scalar(
        select(func.max(Invitation.responded_at)).where(
            Invitation.institution_id == institution_id,
            Invitation.entity_id == entity_id,
            Invitation.status == "declined",
        )
    )


def stale_invitations(session: Session, now: datetime, *, limit: int = 500) -> list[Invitation]:
    return list(
        session.scalars(
            select(Invitation)
            .where(Invitation.status == "pending", Invitation.expires_at <= now)
            .order_by(Invitation.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
