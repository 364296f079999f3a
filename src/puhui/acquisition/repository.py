"""Acquisition queries: the marketing opt-outs and their change counter."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from puhui.acquisition.models import MarketingOptOut, MarketingState


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
