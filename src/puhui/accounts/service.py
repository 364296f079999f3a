"""Accounts: log-in and lock-out, sessions and tokens, institutions, users, API keys and
enterprise registration.

Invariants
- Unknown user, wrong password, disabled user and locked account all fail with the same
  message and the same work (a password hash is always verified).
- ``login_max_failures`` failures in a row lock an account for ``lockout_minutes``; the
  counter and the audit record commit even though the log-in fails.
- A session id or token is handed out once and stored as a digest; each log-in makes a
  new one (no session fixation); disabling a user or changing a password ends its
  other sessions and tokens at once.
- Objects of another institution are "not found" for everyone but platform-wide roles.
- Every state change writes its audit record in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from puhui.accounts import certificates, repository, second_factor
from puhui.accounts.errors import (
    ApiKeyNotFound,
    CodeTooSoon,
    DuplicateInstitution,
    DuplicateUsername,
    InstitutionNotFound,
    InvalidCode,
    InvalidSecondFactor,
    UserNotFound,
)
from puhui.accounts.models import ApiKey, AuthSession, Institution, OneTimeCode, User
from puhui.accounts.schemas import (
    ApiKeyCreate,
    EnterpriseRegistration,
    InstitutionCreate,
    InstitutionUpdate,
    UserCreate,
    UserUpdate,
)
from puhui.audit import service as audit
from puhui.config import Settings, get_settings
from puhui.core import limits
from puhui.core.errors import Conflict, PermissionDenied, field_error
from puhui.core.i18n import N_, gettext
from puhui.core.orm import utcnow
from puhui.core.pagination import Page, PageParams, paginate
from puhui.core.policy import (
    API_KEY_ROLES,
    LENDING_KINDS,
    Actor,
    InstitutionKind,
    Role,
    role_fits_kind,
)
from puhui.core.security import (
    digest,
    hash_password,
    keyed_digest,
    needs_rehash,
    new_numeric_code,
    new_token,
    password_problem,
    verify_password,
)
from puhui.entities import service as entities
from puhui.notifications import service as notifications

API_KEY_PREFIX = "phk"
REGISTRATION = "registration"
# The password hash of an account the simple application flow created: nobody can log
# in with it until the owner registers with the same verified mobile.
UNCLAIMED_PASSWORD = "!unclaimed"  # noqa: S105 - a marker no password hash can equal
CODE_RESEND_SECONDS = 60
LOGIN_RATE_MESSAGE = N_("Too many log-in attempts; try again in {seconds} seconds.")
CODE_RATE_MESSAGE = N_(
    "Too many codes were sent to this mobile number; try again in {seconds} seconds."
)
CODE_MAX_ATTEMPTS = 5
REGISTRATION_SMS = N_(
    "[Puhui] Your registration code is {code}, valid for {minutes} minutes. "
    "If you did not ask for it, ignore this message."
)


# --- actors ------------------------------------------------------------------------------


def actor_for(
    user: User,
    *,
    session_id: str | None = None,
    ip: str | None = None,
    second_factor_at: datetime | None = None,
) -> Actor:
    kind = user.institution.kind_enum if user.institution_id and user.institution else None
    return Actor(
        user_id=user.id,
        username=user.username,
        role=user.role_enum,
        institution_id=user.institution_id,
        institution_kind=kind,
        entity_uscc=user.entity_uscc,
        session_id=session_id,
        ip=ip,
        second_factor_at=second_factor_at,
    )


def actor_by_username(session: Session, username: str) -> Actor | None:
    """The actor of an active user, as if logged in (demo seeding, CLI tasks)."""
    user = repository.user_by_username(session, username)
    if user is None or not user.is_active:
        return None
    _load_institution(session, user)
    return actor_for(user)


def _load_institution(session: Session, user: User) -> None:
    """Relationships are ``lazy="raise"``: load the one we need, explicitly, once."""
    inst = (
        repository.institution_by_id(session, user.institution_id)
        if user.institution_id is not None
        else None
    )
    set_committed_value(user, "institution", inst)


# --- log-in, sessions, tokens ------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    token: str | None
    # the session still needs its second step: "code" or "enrol" (web log-ins only)
    pending: str | None = None
    # why a correct password was not enough (token log-ins): the error code to answer
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.user is not None and self.token is not None


def login(
    session: Session,
    *,
    username: str,
    password: str,
    kind: str,
    ip: str | None,
    user_agent: str | None = None,
    settings: Settings | None = None,
    otp: str | None = None,
) -> LoginResult:
    """Check a password and open a web session (``kind="web"``) or a bearer token.

    A user with a confirmed authenticator (and an institution admin past the grace
    period) needs a second factor: a token log-in must carry it (``otp``: a TOTP or a
    recovery code); a web log-in gets a *pending* session that authorizes only the second
    step (entering the code, or enrolling first)."""
    settings = settings or get_settings()
    _throttle_login(session, username=username, ip=ip, settings=settings)
    now = utcnow()
    user = repository.user_by_username(session, username.strip(), for_update=True)
    password_ok = verify_password(user.password_hash if user else None, password)
    institution_ok = True
    if user is not None and user.institution_id is not None:
        inst = repository.institution_by_id(session, user.institution_id)
        institution_ok = inst is not None and inst.is_active
    if (
        user is None
        or not user.is_active
        or not institution_ok
        or user.is_locked(now)
        or not password_ok
    ):
        reason = (
            "unknown_user"
            if user is None
            else "disabled"
            if not user.is_active or not institution_ok
            else "locked"
            if user.is_locked(now)
            else "wrong_password"
        )
        if user is not None and reason == "wrong_password":
            user.failed_logins += 1
            if user.failed_logins >= settings.login_max_failures:
                user.locked_until = now + timedelta(minutes=settings.lockout_minutes)
                user.failed_logins = 0
                reason = "wrong_password_locked"
        audit.record(
            session,
            actor=None,
            username=username[:64],
            action=f"auth.login.{kind}",
            target_type="user",
            target_id=user.id if user else None,
            outcome="failed",
            ip=ip,
            details={"reason": reason},
        )
        session.flush()
        return LoginResult(None, None)

    pending, verified_at = None, None
    state = second_factor.required_state(session, user, now=now, settings=settings)
    if state == second_factor.PENDING_CODE and otp:
        if not second_factor.verify(session, user=user, code=otp, ip=ip):
            _count_failure(user, now, settings)
            session.flush()
            return LoginResult(None, None, failure="second_factor_invalid")
        verified_at = now
    elif state is not None and kind != "web":
        failure = (
            "second_factor_required"
            if state == second_factor.PENDING_CODE
            else "second_factor_enrolment_required"
        )
        return LoginResult(None, None, failure=failure)
    elif state is not None:
        pending = state

    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    token = new_token()
    expires = now + (
        timedelta(hours=settings.session_absolute_hours)
        if kind == "web"
        else timedelta(hours=settings.token_hours)
    )
    session.add(
        AuthSession(
            id=digest(token),
            user_id=user.id,
            kind=kind,
            last_seen_at=now,
            expires_at=expires,
            ip=ip,
            user_agent=(user_agent or "")[:300] or None,
            pending=pending,
            second_factor_at=verified_at,
        )
    )
    _load_institution(session, user)
    audit.record(
        session,
        actor=actor_for(user, ip=ip),
        action=f"auth.login.{kind}",
        target_type="user",
        target_id=user.id,
        ip=ip,
        details={"pending": pending}
        if pending
        else {"second_factor": True}
        if verified_at
        else None,
    )
    session.flush()
    return LoginResult(user, token, pending=pending)


def _count_failure(user: User, now: datetime, settings: Settings) -> None:
    user.failed_logins += 1
    if user.failed_logins >= settings.login_max_failures:
        user.locked_until = now + timedelta(minutes=settings.lockout_minutes)
        user.failed_logins = 0


def pending_login(session: Session, *, token: str, settings: Settings | None = None) -> User | None:
    """The user of a live web session still waiting for its second step."""
    settings = settings or get_settings()
    record = repository.auth_session(session, digest(token))
    if record is None or record.kind != "web" or record.pending is None:
        return None
    if not record.is_live(utcnow(), timedelta(minutes=settings.session_idle_minutes)):
        return None
    user = repository.user_by_id(session, record.user_id)
    return user if user is not None and user.is_active else None


def pending_state(session: Session, *, token: str) -> str | None:
    record = repository.auth_session(session, digest(token))
    return None if record is None else record.pending


def complete_second_factor(
    session: Session, *, token: str, code: str, ip: str | None, settings: Settings | None = None
) -> None:
    """The second step of a web log-in: a TOTP or recovery code. Wrong codes count as
    failed log-ins (lock-out); a locked account's pending session ends."""
    settings = settings or get_settings()
    user = pending_login(session, token=token, settings=settings)
    record = repository.auth_session(session, digest(token))
    if user is None or record is None or record.pending != second_factor.PENDING_CODE:
        raise InvalidSecondFactor()
    now = utcnow()
    if user.is_locked(now) or not second_factor.verify(session, user=user, code=code, ip=ip):
        _count_failure(user, now, settings)
        if user.is_locked(now):
            repository.delete_auth_session(session, record.id)
        session.flush()
        raise InvalidSecondFactor()
    record.pending, record.second_factor_at = None, now
    session.flush()


def begin_enrolment(
    session: Session, *, token: str | None = None, actor: Actor | None = None
) -> str:
    """A new authenticator secret for the user of a pending web session (forced
    enrolment) or of ``actor``; returns its otpauth URI."""
    user = _enrolling_user(session, token=token, actor=actor)
    existing = second_factor.pending_uri(session, user=user)
    return existing or second_factor.begin_enrolment(session, user=user)


def confirm_enrolment(
    session: Session,
    *,
    code: str,
    ip: str | None,
    token: str | None = None,
    actor: Actor | None = None,
) -> list[str]:
    """Confirm the new authenticator with a code: the session counts as checked (and a
    forced-enrolment session becomes a normal one). Returns the recovery codes."""
    user = _enrolling_user(session, token=token, actor=actor)
    codes = second_factor.confirm_enrolment(session, user=user, code=code, ip=ip)
    session_id = digest(token) if token is not None else actor.session_id if actor else None
    record = repository.auth_session(session, session_id) if session_id else None
    if record is not None:
        record.pending, record.second_factor_at = None, utcnow()
    session.flush()
    return codes


def _enrolling_user(session: Session, *, token: str | None, actor: Actor | None) -> User:
    if token is not None:
        user = pending_login(session, token=token)
        if user is None or pending_state(session, token=token) != second_factor.PENDING_ENROL:
            raise InvalidSecondFactor()
        return user
    if actor is None or actor.user_id is None:
        raise PermissionDenied("API keys have no personal account.")
    found = repository.user_by_id(session, actor.user_id)
    if found is None:
        raise InvalidSecondFactor()
    return found


def new_recovery_codes(session: Session, *, actor: Actor, code: str) -> list[str]:
    """A fresh set of recovery codes for ``actor``, who proves the authenticator first."""
    user = _enrolling_user(session, token=None, actor=actor)
    return second_factor.new_recovery_codes(session, user=user, code=code, ip=actor.ip)


def reset_second_factor(session: Session, *, actor: Actor, user_id: int) -> bool:
    """An administrator removes a user's authenticator (a lost phone): the user's sessions
    end, and a role that must have a second factor enrols again at the next log-in.
    Returns whether there was one to remove. Nobody resets their own."""
    user = _scoped_user(session, actor=actor, user_id=user_id)
    if user.id == actor.user_id:
        raise PermissionDenied(N_("Use your recovery codes; an administrator resets other users."))
    removed = second_factor.reset(session, user=user)
    ended = repository.delete_user_sessions(session, user.id)
    audit.record(
        session,
        actor=actor,
        action="second_factor.reset",
        target_type="user",
        target_id=user.id,
        details={"removed": removed, "sessions_ended": ended},
    )
    session.flush()
    return removed


def step_up(session: Session, *, actor: Actor, code: str) -> datetime:
    """Re-check the second factor inside a live session (before revealing personal values)."""
    return second_factor.step_up(session, actor=actor, code=code)


def step_up_on_page(session: Session, *, actor: Actor, code: str) -> Actor:
    """A page's authenticator field (``otp``) before an unmasked view: the actor with the
    fresh check. A wrong code is a field error on ``otp`` (a 422 on the page, not a 401
    that would send the user to log in); its audit record and count are committed first,
    so the failure stays even though the request fails."""
    try:
        checked = step_up(session, actor=actor, code=code)
    except InvalidSecondFactor as exc:
        session.commit()
        raise field_error("otp", exc.message) from exc
    return replace(actor, second_factor_at=checked)


def second_factor_recent(actor: Actor, settings: Settings | None = None) -> bool:
    return second_factor.recent(actor, settings=settings)


def user_has_second_factor(session: Session, *, user_id: int) -> bool:
    """Whether a user (already checked to be in the caller's scope) has an authenticator."""
    return second_factor.confirmed(session, user_id)


def second_factor_status(session: Session, *, actor: Actor) -> dict[str, int | bool]:
    if actor.user_id is None:
        return {"enrolled": False, "recovery_codes_left": 0}
    return {
        "enrolled": second_factor.confirmed(session, actor.user_id),
        "recovery_codes_left": second_factor.remaining_recovery_codes(session, actor.user_id),
    }


def _throttle_login(session: Session, *, username: str, ip: str | None, settings: Settings) -> None:
    """Every attempt counts against the username's and the client address's budgets
    (database counters, so the bound holds across processes); over either raises
    :class:`~puhui.core.limits.RateLimited` before the password is even checked."""
    window = settings.limit_login_window_seconds
    limits.hit(
        session,
        limits.Limit("login.username", settings.limit_login_per_username, window),
        username.strip().casefold(),
        secret=settings.secret_key,
        message=LOGIN_RATE_MESSAGE,
    )
    if ip:
        limits.hit(
            session,
            limits.Limit("login.ip", settings.limit_login_per_ip, window),
            ip,
            secret=settings.secret_key,
            message=LOGIN_RATE_MESSAGE,
        )


def logout(session: Session, *, actor: Actor) -> None:
    if actor.session_id:
        repository.delete_auth_session(session, actor.session_id)
    audit.record(
        session, actor=actor, action="auth.logout", target_type="user", target_id=actor.user_id
    )
    session.flush()


def resolve_token(
    session: Session, *, token: str, kind: str, ip: str | None, settings: Settings | None = None
) -> Actor | None:
    """The actor behind a live session cookie or bearer token, sliding its idle timer."""
    settings = settings or get_settings()
    now = utcnow()
    record = repository.auth_session(session, digest(token))
    if record is None or record.kind != kind or record.pending is not None:
        return None
    if not record.is_live(now, timedelta(minutes=settings.session_idle_minutes)):
        repository.delete_auth_session(session, record.id)
        return None
    user = repository.user_by_id(session, record.user_id)
    if user is None or not user.is_active:
        return None
    _load_institution(session, user)
    if user.institution is not None and not user.institution.is_active:
        return None
    if now - record.last_seen_at > timedelta(seconds=30):
        repository.touch_session(session, record.id, now)
    return actor_for(user, session_id=record.id, ip=ip, second_factor_at=record.second_factor_at)


def resolve_api_key(
    session: Session, *, key: str, ip: str | None, certificate: str | None = None
) -> Actor | None:
    """The actor behind an API key; ``certificate`` is the SHA-256 fingerprint of the
    client certificate the request came with. A key bound to a certificate (or any key of
    an institution that requires one) without the right certificate raises
    :class:`ClientCertificateRejected`."""
    parts = key.split("_")
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    api_key = repository.api_key_by_prefix(session, parts[1])
    if api_key is None or not api_key.is_active or api_key.key_digest != digest(key):
        return None
    inst = repository.institution_by_id(session, api_key.institution_id)
    if inst is None or not inst.is_active:
        return None
    now = utcnow()
    certificates.check_key(session, key=api_key, institution=inst, presented=certificate, now=now)
    if api_key.last_used_at is None or now - api_key.last_used_at > timedelta(minutes=1):
        api_key.last_used_at = now
    return Actor(
        user_id=None,
        username=f"apikey:{api_key.prefix}",
        role=Role(api_key.role),
        institution_id=inst.id,
        institution_kind=inst.kind_enum,
        api_key_id=api_key.id,
        ip=ip,
    )


def purge_expired(session: Session, settings: Settings | None = None) -> int:
    settings = settings or get_settings()
    now = utcnow()
    n = repository.purge_sessions(
        session, now=now, idle_cutoff=now - timedelta(minutes=settings.session_idle_minutes)
    )
    return n + repository.purge_codes(session, before=now - timedelta(days=1))


# --- institutions ------------------------------------------------------------------------


def list_institutions(
    session: Session, *, kind: str | None, q: str | None, params: PageParams
) -> Page[Institution]:
    return paginate(session, repository.institutions_query(kind=kind, q=q), params)


def all_institutions(session: Session) -> list[Institution]:
    return repository.all_institutions(session)


def get_institution(session: Session, *, actor: Actor | None, institution_id: int) -> Institution:
    inst = repository.institution_by_id(session, institution_id)
    if inst is None or (
        actor is not None and not actor.is_platform_wide and actor.institution_id != inst.id
    ):
        raise InstitutionNotFound()
    return inst


def institution_names(session: Session, ids: set[int]) -> dict[int, str]:
    return repository.institution_names(session, ids)


def lending_institutions(session: Session) -> list[Institution]:
    """Active institutions an enterprise can authorize (banks, insurers, guarantors,
    micro-lenders), by name."""
    kinds = {k.value for k in LENDING_KINDS}
    return [i for i in repository.all_institutions(session) if i.is_active and i.kind in kinds]


def enterprise_contacts(session: Session, uscc: str) -> list[tuple[int, str | None]]:
    """(user id, mobile) of the active enterprise accounts of one entity."""
    user = repository.user_by_uscc(session, uscc)
    return [(user.id, user.mobile)] if user is not None and user.is_active else []


def bind_enterprise(session: Session, *, username: str, uscc: str) -> bool:
    """Bind an enterprise account to another entity (the demo binds its enterprise to an
    entity of the generated city). Returns whether anything changed."""
    user = repository.user_by_username(session, username)
    if user is None or user.role != Role.ENTERPRISE.value or user.entity_uscc == uscc:
        return False
    if repository.user_by_uscc(session, uscc) is not None:
        return False  # another account holds that entity
    user.entity_uscc = uscc
    session.flush()
    return True


def entity_of(session: Session, username: str) -> str | None:
    user = repository.user_by_username(session, username)
    return user.entity_uscc if user is not None else None


def user_mobile(session: Session, user_id: int | None) -> str | None:
    user = repository.user_by_id(session, user_id) if user_id is not None else None
    return user.mobile if user is not None and user.is_active else None


def get_institution_by_name(session: Session, name: str) -> Institution | None:
    return repository.institution_by_name(session, name)


def create_institution(
    session: Session, *, actor: Actor | None, data: InstitutionCreate
) -> Institution:
    code = data.code or None
    if repository.institution_exists(session, name=data.name, code=code):
        raise DuplicateInstitution(
            details=[{"field": "name", "message": DuplicateInstitution.default_message}]
        )
    inst = Institution(name=data.name, kind=data.kind.value, code=code, is_active=True)
    session.add(inst)
    session.flush()
    audit.record(
        session,
        actor=actor,
        username=None if actor else "cli",
        action="institution.create",
        target_type="institution",
        target_id=inst.id,
        details={"name": inst.name, "kind": inst.kind},
    )
    return inst


def update_institution(
    session: Session, *, actor: Actor, institution_id: int, data: InstitutionUpdate
) -> Institution:
    inst = get_institution(session, actor=actor, institution_id=institution_id)
    changes: dict[str, object] = {}
    if data.name is not None and data.name != inst.name:
        if repository.institution_by_name(session, data.name) is not None:
            raise DuplicateInstitution(
                details=[{"field": "name", "message": DuplicateInstitution.default_message}]
            )
        changes["name"] = [inst.name, data.name]
        inst.name = data.name
    if data.is_active is not None and data.is_active != inst.is_active:
        if not data.is_active and inst.id == actor.institution_id:
            raise Conflict("You cannot disable your own institution.")
        changes["is_active"] = [inst.is_active, data.is_active]
        inst.is_active = data.is_active
    session.flush()
    if changes:
        audit.record(
            session,
            actor=actor,
            action="institution.update",
            target_type="institution",
            target_id=inst.id,
            details=changes,
        )
    return inst


# --- users -------------------------------------------------------------------------------


def _check_password(password: str, field: str = "password") -> None:
    problem = password_problem(password)
    if problem:
        raise field_error(field, problem, n=10)


def _scoped_user(session: Session, *, actor: Actor, user_id: int) -> User:
    user = repository.user_by_id(session, user_id)
    if user is None or (
        actor.role is not Role.OPERATOR and user.institution_id != actor.institution_id
    ):
        raise UserNotFound()
    return user


def list_users(
    session: Session,
    *,
    actor: Actor,
    role: str | None,
    q: str | None,
    params: PageParams,
    institution_id: int | None = None,
) -> Page[User]:
    if actor.role is not Role.OPERATOR:
        institution_id = actor.institution_id
    return paginate(
        session, repository.users_query(institution_id=institution_id, role=role, q=q), params
    )


def lock_user(session: Session, user_id: int) -> None:
    """Serialise one user's concurrent requests that check and then write (PostgreSQL:
    the row is held until the transaction ends; SQLite serialises writers anyway)."""
    repository.lock_user(session, user_id)


def get_user(session: Session, *, actor: Actor, user_id: int) -> User:
    return _scoped_user(session, actor=actor, user_id=user_id)


def get_me(session: Session, *, actor: Actor) -> User:
    if actor.user_id is None:
        raise PermissionDenied("API keys have no personal account.")
    user = repository.user_by_id(session, actor.user_id)
    if user is None:
        raise UserNotFound()
    _load_institution(session, user)
    return user


def create_user(session: Session, *, actor: Actor | None, data: UserCreate) -> User:  # noqa: PLR0912
    """Create a user. ``actor=None`` is the command line (a platform operator's tool)."""
    if actor is not None and actor.role is Role.INSTITUTION_ADMIN:
        if data.institution_id not in (None, actor.institution_id):
            raise InstitutionNotFound()
        data = data.model_copy(update={"institution_id": actor.institution_id})
        if data.role in {Role.OPERATOR, Role.REGULATOR, Role.AUDITOR, Role.ENTERPRISE}:
            raise PermissionDenied(
                "An institution administrator cannot create {role} users.", role=data.role.value
            )
    if repository.user_by_username(session, data.username) is not None:
        raise DuplicateUsername(
            details=[
                {
                    "field": "username",
                    "message": DuplicateUsername.default_message,
                    "params": {"username": data.username},
                }
            ],
            username=data.username,
        )
    _check_password(data.password)
    kind: InstitutionKind | None = None
    if data.institution_id is not None:
        inst = repository.institution_by_id(session, data.institution_id)
        if inst is None:
            raise field_error("institution_id", "No such institution.")
        kind = inst.kind_enum
    uscc: str | None = None
    if data.role is Role.ENTERPRISE:
        if data.institution_id is not None:
            raise field_error(
                "institution_id", "Enterprise users belong to an entity, not an institution."
            )
        if not data.entity_uscc:
            raise field_error("entity_uscc", "Enterprise users must be bound to a USCC.")
        try:
            uscc = entities.validate(data.entity_uscc)
        except entities.InvalidUSCC as exc:
            raise field_error("entity_uscc", exc.reason, **exc.params) from exc
        if repository.user_by_uscc(session, uscc) is not None:
            raise Conflict(
                "This entity already has an account.",
                details=[
                    {"field": "entity_uscc", "message": "This entity already has an account."}
                ],
            )
    elif data.entity_uscc:
        raise field_error("entity_uscc", "Only enterprise users are bound to a USCC.")
    if not role_fits_kind(data.role, kind):
        if kind is None:
            raise field_error(
                "institution_id",
                "A {role} user must belong to an institution.",
                role=data.role.value,
            )
        raise field_error(
            "role",
            "The role {role} does not fit an institution of kind {kind}.",
            role=data.role.value,
            kind=kind.value,
        )
    user = User(
        username=data.username,
        display_name=data.display_name or data.username,
        password_hash=hash_password(data.password),
        role=data.role.value,
        institution_id=data.institution_id,
        entity_uscc=uscc,
        mobile=data.mobile,
        is_active=True,
        failed_logins=0,
        password_changed_at=utcnow(),
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        username=None if actor else "cli",
        action="user.create",
        target_type="user",
        target_id=user.id,
        details={
            "username": user.username,
            "role": user.role,
            "institution_id": user.institution_id,
        },
    )
    return user


def update_user(session: Session, *, actor: Actor, user_id: int, data: UserUpdate) -> User:
    user = _scoped_user(session, actor=actor, user_id=user_id)
    changes: dict[str, object] = {}
    if data.display_name is not None and data.display_name != user.display_name:
        changes["display_name"] = [user.display_name, data.display_name]
        user.display_name = data.display_name
    if data.role is not None and data.role.value != user.role:
        inst = (
            repository.institution_by_id(session, user.institution_id)
            if user.institution_id
            else None
        )
        if not role_fits_kind(data.role, inst.kind_enum if inst else None):
            raise field_error(
                "role",
                "The role {role} does not fit this user's institution.",
                role=data.role.value,
            )
        if actor.role is Role.INSTITUTION_ADMIN and data.role in {
            Role.OPERATOR,
            Role.REGULATOR,
            Role.AUDITOR,
        }:
            raise PermissionDenied()
        changes["role"] = [user.role, data.role.value]
        user.role = data.role.value
        repository.delete_user_sessions(session, user.id)
    if data.is_active is not None and data.is_active != user.is_active:
        if user.id == actor.user_id and not data.is_active:
            raise Conflict("You cannot disable your own account.")
        changes["is_active"] = [user.is_active, data.is_active]
        user.is_active = data.is_active
        if not data.is_active:
            ended = repository.delete_user_sessions(session, user.id)
            changes["sessions_ended"] = ended
        else:
            user.failed_logins = 0
            user.locked_until = None
    session.flush()
    if changes:
        audit.record(
            session,
            actor=actor,
            action="user.update",
            target_type="user",
            target_id=user.id,
            details=changes,
        )
    return user


def change_password(session: Session, *, actor: Actor, current: str, new: str) -> None:
    user = get_me(session, actor=actor)
    if not verify_password(user.password_hash, current):
        audit.record(
            session,
            actor=actor,
            action="user.password_change",
            target_type="user",
            target_id=user.id,
            outcome="failed",
        )
        raise field_error("current_password", "The current password is wrong.")
    _check_password(new, "new_password")
    if verify_password(user.password_hash, new):
        raise field_error("new_password", "The new password must differ from the current one.")
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    repository.delete_user_sessions(session, user.id, keep=actor.session_id)
    audit.record(
        session, actor=actor, action="user.password_change", target_type="user", target_id=user.id
    )
    session.flush()


# --- API keys ----------------------------------------------------------------------------


def list_api_keys(session: Session, *, actor: Actor, params: PageParams) -> Page[ApiKey]:
    assert actor.institution_id is not None
    return paginate(session, repository.api_keys_query(actor.institution_id), params)


def create_api_key(session: Session, *, actor: Actor, data: ApiKeyCreate) -> tuple[ApiKey, str]:
    """Create a key for the actor's institution; the raw key is returned once."""
    if actor.institution_id is None:
        raise PermissionDenied()
    if data.role not in API_KEY_ROLES:
        raise field_error("role", "An API key cannot act as {role}.", role=data.role.value)
    if not role_fits_kind(data.role, actor.institution_kind):
        raise field_error(
            "role",
            "The role {role} does not fit an institution of kind {kind}.",
            role=data.role.value,
            kind=str(actor.institution_kind),
        )
    prefix = new_token(6).replace("_", "x").replace("-", "y")[:8]
    raw = f"{API_KEY_PREFIX}_{prefix}_{new_token(32).replace('_', 'x')}"
    key = ApiKey(
        institution_id=actor.institution_id,
        name=data.name,
        role=data.role.value,
        prefix=prefix,
        key_digest=digest(raw),
        created_by=actor.user_id,
    )
    session.add(key)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="apikey.create",
        target_type="api_key",
        target_id=key.id,
        details={"name": key.name, "role": key.role},
    )
    return key, raw


def revoke_api_key(session: Session, *, actor: Actor, key_id: int) -> ApiKey:
    key = repository.api_key_by_id(session, key_id)
    if key is None or key.institution_id != actor.institution_id:
        raise ApiKeyNotFound()
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(
            session, actor=actor, action="apikey.revoke", target_type="api_key", target_id=key.id
        )
    session.flush()
    return key


# --- enterprise registration -------------------------------------------------------------


def request_registration_code(
    session: Session, *, mobile: str, ip: str | None, settings: Settings | None = None
) -> OneTimeCode:
    """Send a registration code to ``mobile`` through the outbox (at most one a minute)."""
    return request_mobile_code(
        session, mobile=mobile, purpose=REGISTRATION, ip=ip, settings=settings
    )


def request_mobile_code(
    session: Session,
    *,
    mobile: str,
    purpose: str,
    ip: str | None,
    message: str = REGISTRATION_SMS,
    settings: Settings | None = None,
) -> OneTimeCode:
    """Send a one-time code for ``purpose`` to ``mobile`` (at most one a minute).
    ``message`` is a msgid with ``{code}`` and ``{minutes}``."""
    settings = settings or get_settings()
    now = utcnow()
    recipient = keyed_digest(settings.secret_key, f"mobile:{mobile}")
    last = repository.latest_code(session, recipient_digest=recipient, purpose=purpose)
    if last is not None and now - last.created_at < timedelta(seconds=CODE_RESEND_SECONDS):
        error = CodeTooSoon()
        waited = (now - last.created_at).total_seconds()
        error.retry_after = max(1, int(CODE_RESEND_SECONDS - waited))  # type: ignore[attr-defined]
        raise error
    # atomic across processes (the check above can race): one code a minute per number,
    # whatever it is for (a registration right after a demand's code waits out the minute:
    # a number is never sent two codes within 60 s), and a daily budget per number
    for limit, subject in (
        (limits.Limit("sms.minute", 1, CODE_RESEND_SECONDS), f"mobile:{mobile}"),
        (limits.Limit("sms.day", settings.limit_sms_codes_per_day, 86_400), f"mobile:{mobile}"),
    ):
        limits.hit(session, limit, subject, secret=settings.secret_key, message=CODE_RATE_MESSAGE)
    code = new_numeric_code()
    otp = OneTimeCode(
        purpose=purpose,
        recipient_digest=recipient,
        code_digest=keyed_digest(settings.secret_key, f"code:{code}"),
        expires_at=now + timedelta(minutes=settings.otp_ttl_minutes),
        attempts=0,
        created_at=now,
    )
    session.add(otp)
    notifications.send_sms(
        session,
        recipient=mobile,
        purpose=purpose,
        body=gettext(settings.default_locale, message, code=code, minutes=settings.otp_ttl_minutes),
    )
    audit.record(
        session,
        actor=None,
        action="auth.registration_code" if purpose == REGISTRATION else f"auth.code.{purpose}",
        outcome="ok",
        ip=ip,
        target_type="one_time_code",
        target_id=None,
    )
    session.flush()
    return otp


def _consume_code(
    session: Session, *, mobile: str, code: str, settings: Settings, purpose: str = REGISTRATION
) -> None:
    now = utcnow()
    recipient = keyed_digest(settings.secret_key, f"mobile:{mobile}")
    otp = repository.latest_code(session, recipient_digest=recipient, purpose=purpose)
    if (
        otp is None
        or otp.consumed_at is not None
        or otp.expires_at <= now
        or otp.attempts >= CODE_MAX_ATTEMPTS
    ):
        raise InvalidCode(details=[{"field": "code", "message": InvalidCode.default_message}])
    if otp.code_digest != keyed_digest(settings.secret_key, f"code:{code}"):
        otp.attempts += 1
        session.flush()
        raise InvalidCode(details=[{"field": "code", "message": InvalidCode.default_message}])
    otp.consumed_at = now
    session.flush()


def consume_mobile_code(
    session: Session, *, mobile: str, code: str, purpose: str, settings: Settings | None = None
) -> None:
    """Check a one-time code sent by :func:`request_mobile_code` and use it up. A wrong
    code raises :class:`InvalidCode` after counting the attempt (five burn the code), so
    callers must let the count commit."""
    _consume_code(
        session, mobile=mobile, code=code, settings=settings or get_settings(), purpose=purpose
    )


def enterprise_account_for(
    session: Session, *, uscc: str, mobile: str, ip: str | None
) -> tuple[int, bool]:
    """The enterprise account of entity ``uscc`` for someone who has just proved
    ``mobile``: the existing account, or a new one without a password that the owner
    completes by registering with the same mobile. Returns (user id, created)."""
    user = repository.user_by_uscc(session, uscc)
    if user is not None:
        return user.id, False
    username = f"e{uscc}".lower()
    user = User(
        username=username,
        display_name=uscc,
        password_hash=UNCLAIMED_PASSWORD,
        role=Role.ENTERPRISE.value,
        institution_id=None,
        entity_uscc=uscc,
        mobile=mobile,
        is_active=True,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=None,
        action="user.create_unclaimed",
        ip=ip,
        target_type="user",
        target_id=user.id,
        details={"uscc": uscc},
    )
    return user.id, True


def user_names(session: Session, ids: set[int]) -> dict[int, str]:
    """Display names (or user names) of these users."""
    return {
        u.id: u.display_name or u.username
        for u in (repository.user_by_id(session, i) for i in sorted(ids))
        if u is not None
    }


def institution_staff(session: Session, *, institution_id: int, role: str) -> list[tuple[int, str]]:
    """(id, display name) of the active users of one institution in one role."""
    return [
        (u.id, u.display_name or u.username)
        for u in session.scalars(repository.users_query(institution_id=institution_id, role=role))
        if u.is_active
    ]


def register_enterprise(
    session: Session,
    *,
    data: EnterpriseRegistration,
    ip: str | None,
    settings: Settings | None = None,
) -> User:
    """Create an enterprise user bound to one entity after its mobile number is verified.

    A wrong code raises :class:`InvalidCode` after counting the attempt; the routes catch
    it and *return* the error so that the count commits (five wrong guesses burn the
    code). Everything else is validated first, so a typo elsewhere does not burn it.
    """
    settings = settings or get_settings()
    try:
        uscc = entities.validate(data.uscc)
    except entities.InvalidUSCC as exc:
        raise field_error("uscc", exc.reason, **exc.params) from exc
    existing = repository.user_by_uscc(session, uscc)
    unclaimed = (
        existing is not None
        and existing.password_hash == UNCLAIMED_PASSWORD
        and existing.mobile == data.mobile
    )
    if existing is not None and not unclaimed:
        raise Conflict(
            "This entity already has an account.",
            details=[{"field": "uscc", "message": "This entity already has an account."}],
        )
    if repository.user_by_username(session, data.username) is not None:
        raise DuplicateUsername(
            details=[
                {
                    "field": "username",
                    "message": DuplicateUsername.default_message,
                    "params": {"username": data.username},
                }
            ],
            username=data.username,
        )
    _check_password(data.password)
    _consume_code(session, mobile=data.mobile, code=data.code, settings=settings)
    if unclaimed and existing is not None:
        # The simple application flow made this account; its owner now completes it.
        existing.username = data.username
        existing.display_name = data.display_name or data.username
        existing.password_hash = hash_password(data.password)
        existing.password_changed_at = utcnow()
        session.flush()
        audit.record(
            session,
            actor=actor_for(existing, ip=ip),
            action="user.register",
            target_type="user",
            target_id=existing.id,
            details={"uscc": uscc, "completed": True},
        )
        return existing
    user = User(
        username=data.username,
        display_name=data.display_name or data.username,
        password_hash=hash_password(data.password),
        role=Role.ENTERPRISE.value,
        institution_id=None,
        entity_uscc=uscc,
        mobile=data.mobile,
        is_active=True,
        failed_logins=0,
        password_changed_at=utcnow(),
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor_for(user, ip=ip),
        action="user.register",
        target_type="user",
        target_id=user.id,
        details={"uscc": uscc},
    )
    return user


def count_users(session: Session, *, role: str | None = None) -> int:
    return repository.count_users(session, role=role)


def username_taken(session: Session, username: str) -> bool:
    return repository.user_by_username(session, username) is not None
