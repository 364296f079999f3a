"""Identity-verification queries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from puhui.verification.models import (
    OPEN_STATUSES,
    PENDING,
    SUBMITTED,
    VERIFIED,
    CallbackNonce,
    IdentityDocument,
    IdentityVerification,
)


def get(
    session: Session, verification_id: int, *, for_update: bool = False
) -> IdentityVerification | None:
    stmt = select(IdentityVerification).where(IdentityVerification.id == verification_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def by_reference(session: Session, provider: str, reference: str) -> IdentityVerification | None:
    return session.scalars(
        select(IdentityVerification)
        .where(
            IdentityVerification.provider == provider, IdentityVerification.reference == reference
        )
        .with_for_update()
    ).first()


def latest(
    session: Session, *, user_id: int, uscc: str, for_update: bool = False
) -> IdentityVerification | None:
    stmt = (
        select(IdentityVerification)
        .where(IdentityVerification.user_id == user_id, IdentityVerification.entity_uscc == uscc)
        .order_by(IdentityVerification.id.desc())
        .limit(1)
    )
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def latest_verified(session: Session, *, user_id: int, uscc: str) -> IdentityVerification | None:
    return session.scalars(
        select(IdentityVerification)
        .where(
            IdentityVerification.user_id == user_id,
            IdentityVerification.entity_uscc == uscc,
            IdentityVerification.status == VERIFIED,
        )
        .order_by(IdentityVerification.decided_at.desc(), IdentityVerification.id.desc())
        .limit(1)
    ).first()


def queue(session: Session, *, offset: int, limit: int) -> tuple[list[IdentityVerification], int]:
    """Submitted manual verifications, oldest first."""
    where = (IdentityVerification.status == SUBMITTED,)
    total = (
        session.scalar(select(func.count()).select_from(IdentityVerification).where(*where)) or 0
    )
    rows = session.scalars(
        select(IdentityVerification)
        .where(*where)
        .order_by(IdentityVerification.submitted_at, IdentityVerification.id)
        .offset(offset)
        .limit(limit)
    ).all()
    return list(rows), total


def documents(session: Session, verification_id: int) -> list[IdentityDocument]:
    return list(
        session.scalars(
            select(IdentityDocument)
            .where(IdentityDocument.verification_id == verification_id)
            .order_by(IdentityDocument.id)
        )
    )


def stale_open(session: Session, *, now: datetime, limit: int = 500) -> list[IdentityVerification]:
    return list(
        session.scalars(
            select(IdentityVerification)
            .where(
                IdentityVerification.status.in_(OPEN_STATUSES),
                IdentityVerification.expires_at <= now,
            )
            .order_by(IdentityVerification.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def pending_of(session: Session, provider: str, *, limit: int) -> list[IdentityVerification]:
    return list(
        session.scalars(
            select(IdentityVerification)
            .where(
                IdentityVerification.provider == provider, IdentityVerification.status == PENDING
            )
            .order_by(IdentityVerification.id)
            .limit(limit)
        )
    )


def due_for_purge(session: Session, *, now: datetime, limit: int = 1000) -> list[IdentityDocument]:
    return list(
        session.scalars(
            select(IdentityDocument)
            .where(IdentityDocument.purged_at.is_(None), IdentityDocument.purge_after <= now)
            .order_by(IdentityDocument.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def kept_documents(session: Session) -> list[tuple[int, str, str]]:
    """(verification id, kind, stored name) of every photo not yet purged."""
    rows = session.execute(
        select(
            IdentityDocument.verification_id, IdentityDocument.kind, IdentityDocument.stored_name
        )
        .where(IdentityDocument.purged_at.is_(None))
        .order_by(IdentityDocument.id)
    )
    return [(int(v), str(k), str(n)) for v, k, n in rows]


def nonce_seen(session: Session, nonce: str) -> bool:
    return session.get(CallbackNonce, nonce) is not None


def forget_nonces(session: Session, *, before: datetime) -> int:
    result = session.execute(delete(CallbackNonce).where(CallbackNonce.received_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def known_names(session: Session, names: list[str]) -> set[str]:
    """Which of these stored names a document row holds."""
    if not names:
        return set()
    return set(
        session.scalars(
            select(IdentityDocument.stored_name).where(IdentityDocument.stored_name.in_(names))
        )
    )
