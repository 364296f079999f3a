"""PSI queries: sessions (scoped to their institution) and grants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from puhui.psi.models import EXPIRED, OPEN, PsiGrant, PsiSession


def add_session(session: Session, row: PsiSession) -> PsiSession:
    session.add(row)
    session.flush()
    return row


def session_of(
    session: Session, *, public_id: str, institution_id: int, for_update: bool = False
) -> PsiSession | None:
    stmt = select(PsiSession).where(
        PsiSession.public_id == public_id, PsiSession.institution_id == institution_id
    )
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def expire_sessions(session: Session, now: datetime) -> int:
    result = session.execute(
        update(PsiSession)
        .where(PsiSession.status == OPEN, PsiSession.expires_at <= now)
        .values(status=EXPIRED, nonce=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def grant(session: Session, institution_id: int) -> PsiGrant | None:
    return session.get(PsiGrant, institution_id)


def add_grant(session: Session, *, institution_id: int, user_id: int | None) -> PsiGrant:
    row = PsiGrant(institution_id=institution_id, granted_by=user_id)
    session.add(row)
    session.flush()
    return row


def remove_grant(session: Session, row: PsiGrant) -> None:
    session.delete(row)
    session.flush()
