"""All accounts queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.orm import Session

from puhui.accounts.models import (
    MOBILE_PURPOSE,
    ApiKey,
    AuthSession,
    ClientCertificate,
    Institution,
    OneTimeCode,
    RecoveryCode,
    SecondFactor,
    User,
)
from puhui.core.security.fields import blind_index


def institution_by_id(session: Session, institution_id: int) -> Institution | None:
    return session.get(Institution, institution_id)


def institution_by_name(session: Session, name: str) -> Institution | None:
    return session.scalar(select(Institution).where(Institution.name == name))


def institution_by_code(session: Session, code: str) -> Institution | None:
    return session.scalar(select(Institution).where(Institution.code == code))


def institution_exists(session: Session, *, name: str, code: str | None) -> bool:
    cond = Institution.name == name
    if code:
        cond = or_(cond, Institution.code == code)
    return session.scalar(select(func.count()).select_from(Institution).where(cond)) != 0


def institutions_query(*, kind: str | None = None, q: str | None = None) -> Select[Any]:
    stmt = select(Institution)
    if kind:
        stmt = stmt.where(Institution.kind == kind)
    if q:
        stmt = stmt.where(Institution.name.contains(q))
    return stmt.order_by(Institution.id)


def all_institutions(session: Session) -> list[Institution]:
    return list(session.scalars(select(Institution).order_by(Institution.name)))


def institution_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Institution.id, Institution.name).where(Institution.id.in_(ids)))
    return {row.id: row.name for row in rows}


def user_by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def lock_user(session: Session, user_id: int) -> None:
    """Hold the user's row until the transaction ends (serialises their own requests)."""
    session.execute(select(User.id).where(User.id == user_id).with_for_update())


def user_by_username(session: Session, username: str, *, for_update: bool = False) -> User | None:
    stmt = select(User).where(func.lower(User.username) == username.lower())
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def user_by_uscc(session: Session, uscc: str) -> User | None:
    return session.scalar(select(User).where(User.entity_uscc == uscc))


def users_query(
    *, institution_id: int | None = None, role: str | None = None, q: str | None = None
) -> Select[Any]:
    stmt = select(User)
    if institution_id is not None:
        stmt = stmt.where(User.institution_id == institution_id)
    if role:
        stmt = stmt.where(User.role == role)
    if q:
        found = [User.username.contains(q), User.display_name.contains(q)]
        if q.strip().isdigit():
            # mobile numbers are stored encrypted: an exact match through the blind index
            found.append(User.mobile_bidx == blind_index(MOBILE_PURPOSE, q))
        stmt = stmt.where(or_(*found))
    return stmt.order_by(User.id)


def count_users(session: Session, *, role: str | None = None) -> int:
    stmt = select(func.count()).select_from(User)
    if role:
        stmt = stmt.where(User.role == role)
    return int(session.scalar(stmt) or 0)


def auth_session(session: Session, session_id: str) -> AuthSession | None:
    return session.get(AuthSession, session_id)


def delete_auth_session(session: Session, session_id: str) -> None:
    session.execute(delete(AuthSession).where(AuthSession.id == session_id))


def delete_user_sessions(session: Session, user_id: int, *, keep: str | None = None) -> int:
    stmt = delete(AuthSession).where(AuthSession.user_id == user_id)
    if keep:
        stmt = stmt.where(AuthSession.id != keep)
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def purge_sessions(session: Session, *, now: datetime, idle_cutoff: datetime) -> int:
    stmt = delete(AuthSession).where(
        or_(
            AuthSession.expires_at <= now,
            (AuthSession.kind == "web") & (AuthSession.last_seen_at <= idle_cutoff),
        )
    )
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def touch_session(session: Session, session_id: str, now: datetime) -> None:
    session.execute(
        update(AuthSession).where(AuthSession.id == session_id).values(last_seen_at=now)
    )


def api_key_by_prefix(session: Session, prefix: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))


def api_key_by_id(session: Session, key_id: int) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def api_keys_query(institution_id: int) -> Select[Any]:
    return select(ApiKey).where(ApiKey.institution_id == institution_id).order_by(ApiKey.id.desc())


def latest_code(session: Session, *, recipient_digest: str, purpose: str) -> OneTimeCode | None:
    return session.scalar(
        select(OneTimeCode)
        .where(OneTimeCode.recipient_digest == recipient_digest, OneTimeCode.purpose == purpose)
        .order_by(OneTimeCode.id.desc())
        .limit(1)
        .with_for_update()
    )


def purge_codes(session: Session, *, before: datetime) -> int:
    stmt = delete(OneTimeCode).where(OneTimeCode.expires_at < before)
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def second_factor(session: Session, user_id: int) -> SecondFactor | None:
    return session.get(SecondFactor, user_id)


def delete_recovery_codes(session: Session, user_id: int) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


def unused_recovery_code(session: Session, user_id: int, code_digest: str) -> RecoveryCode | None:
    stmt = (
        select(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_digest == code_digest,
            RecoveryCode.used_at.is_(None),
        )
        .with_for_update()
    )
    return session.scalar(stmt)


def count_unused_recovery_codes(session: Session, user_id: int) -> int:
    stmt = select(func.count()).where(
        RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
    )
    return int(session.scalar(stmt) or 0)


# --- client certificates -------------------------------------------------------------------


def certificate_by_id(session: Session, certificate_id: int) -> ClientCertificate | None:
    return session.get(ClientCertificate, certificate_id)


def certificate_by_serial(session: Session, serial: str) -> ClientCertificate | None:
    return session.scalar(select(ClientCertificate).where(ClientCertificate.serial == serial))


def certificates_query(institution_id: int | None = None) -> Select[Any]:
    stmt = select(ClientCertificate).order_by(ClientCertificate.id.desc())
    if institution_id is not None:
        stmt = stmt.where(ClientCertificate.institution_id == institution_id)
    return stmt


def keys_bound_to(session: Session, certificate_id: int) -> list[ApiKey]:
    return list(
        session.scalars(
            select(ApiKey).where(ApiKey.client_certificate_id == certificate_id).order_by(ApiKey.id)
        )
    )
