"""A second factor for institution users: TOTP (RFC 6238) with single-use recovery codes.

Invariants
- A user has at most one authenticator; it counts only once confirmed with a code.
- A TOTP code is accepted once: the time step it belongs to is stored (``last_step``) and a
  code of that step or an earlier one is refused, even inside the ±1 step window.
- A recovery code is stored as a digest and works once (``used_at``).
- Institution admins must have a confirmed authenticator to log in once their account is
  older than ``second_factor_grace_days``; anyone with a confirmed authenticator must use
  it at every log-in. Revealing personal values needs a check no older than
  ``second_factor_reveal_minutes`` (``Actor.second_factor_at``).
- Every enrolment, check and failure is an audit event in the caller's transaction.
- Checks inside a live session (step-up, new recovery codes) count against
  ``CHECK_LIMIT`` per user, so a stolen session cannot walk the code space; the callers
  commit a failure (its audit record and its count) before answering.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import pyotp
from sqlalchemy.orm import Session

from puhui.accounts import repository
from puhui.accounts.errors import InvalidSecondFactor, SecondFactorAlreadyEnrolled
from puhui.accounts.models import RecoveryCode, SecondFactor, User
from puhui.audit import service as audit
from puhui.config import Settings, get_settings
from puhui.core import limits
from puhui.core.orm import utcnow
from puhui.core.policy import Actor, Role
from puhui.core.security.passwords import digest

ISSUER = "Puhui"
RECOVERY_CODES = 10
ENFORCED_ROLES = frozenset({Role.INSTITUTION_ADMIN})
PENDING_CODE = "code"
PENDING_ENROL = "enrol"
CHECK_LIMIT = limits.Limit("second_factor.check", 10, 15 * 60)


def _count_check(session: Session, user: User) -> None:
    limits.hit(session, CHECK_LIMIT, str(user.id), secret=get_settings().secret_key)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, issuer=ISSUER)


def _normal(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def confirmed(session: Session, user_id: int) -> bool:
    factor = repository.second_factor(session, user_id)
    return factor is not None and factor.is_confirmed


def required_state(
    session: Session, user: User, *, now: datetime, settings: Settings | None = None
) -> str | None:
    """What a password log-in of ``user`` still needs: a code, an enrolment, or nothing."""
    settings = settings or get_settings()
    if confirmed(session, user.id):
        return PENDING_CODE
    if user.role_enum in ENFORCED_ROLES:
        created = user.created_at
        if created is None or now - created >= timedelta(days=settings.second_factor_grace_days):
            return PENDING_ENROL
    return None


def begin_enrolment(session: Session, *, user: User) -> str:
    """A new (unconfirmed) secret for ``user``; returns its ``otpauth://`` URI. Refused
    while a confirmed authenticator exists."""
    factor = repository.second_factor(session, user.id)
    if factor is not None and factor.is_confirmed:
        raise SecondFactorAlreadyEnrolled()
    secret = pyotp.random_base32()
    if factor is None:
        factor = SecondFactor(user_id=user.id, secret=secret)
        session.add(factor)
    else:
        factor.secret, factor.last_step = secret, None
    session.flush()
    return enrolment_uri(factor, user)


def enrolment_uri(factor: SecondFactor, user: User) -> str:
    return _totp(factor.secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def pending_uri(session: Session, *, user: User) -> str | None:
    factor = repository.second_factor(session, user.id)
    if factor is None or factor.is_confirmed:
        return None
    return enrolment_uri(factor, user)


def confirm_enrolment(
    session: Session, *, user: User, code: str, ip: str | None = None
) -> list[str]:
    """Confirm the pending secret with a current code; returns the recovery codes (shown
    once, stored only as digests)."""
    factor = repository.second_factor(session, user.id)
    if factor is None or factor.is_confirmed or not _accept_totp(factor, code):
        _failed(session, user, "second_factor.enrol", ip)
        raise InvalidSecondFactor()
    now = utcnow()
    factor.confirmed_at = now
    codes = _new_recovery_codes(session, user.id)
    audit.record(
        session,
        actor=None,
        username=user.username,
        action="second_factor.enrol",
        target_type="user",
        target_id=user.id,
        ip=ip,
    )
    session.flush()
    return codes


def verify(session: Session, *, user: User, code: str, ip: str | None = None) -> bool:
    """Check a TOTP code or an unused recovery code of ``user`` (audited either way)."""
    factor = repository.second_factor(session, user.id)
    ok = False
    method = "totp"
    if factor is not None and factor.is_confirmed:
        if _normal(code).isdigit():
            ok = _accept_totp(factor, code)
        else:
            method = "recovery"
            ok = _use_recovery_code(session, user.id, code)
    if not ok:
        _failed(session, user, "second_factor.verify", ip)
        return False
    audit.record(
        session,
        actor=None,
        username=user.username,
        action="second_factor.verify",
        target_type="user",
        target_id=user.id,
        ip=ip,
        details={"method": method},
    )
    session.flush()
    return True


def step_up(session: Session, *, actor: Actor, code: str) -> datetime:
    """Re-check the second factor inside a live session (before revealing personal
    values); returns the time of the check, stored on the session."""
    if actor.user_id is None or actor.session_id is None:
        raise InvalidSecondFactor()
    user = repository.user_by_id(session, actor.user_id)
    if user is None:
        raise InvalidSecondFactor()
    _count_check(session, user)
    if not verify(session, user=user, code=code, ip=actor.ip):
        raise InvalidSecondFactor()
    now = utcnow()
    record = repository.auth_session(session, actor.session_id)
    if record is not None:
        record.second_factor_at = now
    session.flush()
    return now


def recent(actor: Actor, *, settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    at = actor.second_factor_at
    return at is not None and utcnow() - at <= timedelta(
        minutes=settings.second_factor_reveal_minutes
    )


def _accept_totp(factor: SecondFactor, code: str) -> bool:
    code = _normal(code)
    if len(code) != 6 or not code.isdigit():
        return False
    totp = _totp(factor.secret)
    now = utcnow()
    step = totp.timecode(now)
    for candidate in (step, step - 1, step + 1):
        if secrets.compare_digest(totp.generate_otp(candidate), code):
            if factor.last_step is not None and candidate <= factor.last_step:
                return False  # replayed, or older than a code already used
            factor.last_step = candidate
            return True
    return False


def _new_recovery_codes(session: Session, user_id: int) -> list[str]:
    repository.delete_recovery_codes(session, user_id)
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(6)  # 48 bits shown as xxxx-xxxx-xxxx
        code = f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
        codes.append(code)
        session.add(RecoveryCode(user_id=user_id, code_digest=digest(_normal(code))))
    return codes


def _use_recovery_code(session: Session, user_id: int, code: str) -> bool:
    found = repository.unused_recovery_code(session, user_id, digest(_normal(code)))
    if found is None:
        return False
    found.used_at = utcnow()
    return True


def new_recovery_codes(
    session: Session, *, user: User, code: str, ip: str | None = None
) -> list[str]:
    """Replace ``user``'s recovery codes after checking a current TOTP code (not a recovery
    code: a stolen recovery code must not mint new ones). Returns the new codes."""
    _count_check(session, user)
    factor = repository.second_factor(session, user.id)
    if (
        factor is None
        or not factor.is_confirmed
        or not _normal(code).isdigit()
        or not _accept_totp(factor, code)
    ):
        _failed(session, user, "second_factor.recovery_codes", ip)
        raise InvalidSecondFactor()
    codes = _new_recovery_codes(session, user.id)
    audit.record(
        session,
        actor=None,
        username=user.username,
        action="second_factor.recovery_codes",
        target_type="user",
        target_id=user.id,
        ip=ip,
    )
    session.flush()
    return codes


def reset(session: Session, *, user: User) -> bool:
    """Remove ``user``'s authenticator and recovery codes (a lost phone); False when there
    was none. The caller audits and ends the user's sessions."""
    factor = repository.second_factor(session, user.id)
    repository.delete_recovery_codes(session, user.id)
    if factor is None:
        session.flush()
        return False
    session.delete(factor)
    session.flush()
    return True


def remaining_recovery_codes(session: Session, user_id: int) -> int:
    return repository.count_unused_recovery_codes(session, user_id)


def _failed(session: Session, user: User, action: str, ip: str | None) -> None:
    audit.record(
        session,
        actor=None,
        username=user.username,
        action=action,
        target_type="user",
        target_id=user.id,
        outcome="failed",
        ip=ip,
    )
    session.flush()
