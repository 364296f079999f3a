"""Identity verification of enterprises' legal representatives (decision 0019).

Invariants
- An attempt starts only when the claimed name and ID number are the legal representative
  the registry records for the account's entity; otherwise nothing is stored.
- At most one open attempt (pending or submitted) per account: a new start replaces a
  pending one; a submitted one waits for its decision.
- The gate (:func:`require_verified`) lets an enterprise account through when its latest
  verified attempt is for its current entity and the registry still names the person it
  verified (a change of legal representative asks for a new verification).
- Photos are kept encrypted until ``PUHUI_IDENTITY_DOCUMENT_RETENTION_DAYS`` after the
  decision (or the expiry), then the daily job deletes the files.
- Every step writes an audit event in the caller's transaction; nothing here commits.
  Audit details never hold the name or the ID number.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from puhui.accounts import service as accounts
from puhui.audit import service as audit
from puhui.config import Settings, get_settings
from puhui.core.errors import PermissionDenied, ValidationFailed, field_error
from puhui.core.i18n import N_
from puhui.core.masking import mask_id_number, mask_name
from puhui.core.orm import utcnow
from puhui.core.pagination import Page, PageParams
from puhui.core.policy import Actor, InstitutionKind, Role
from puhui.core.security.fields import blind_index
from puhui.entities import service as entities
from puhui.entities.errors import EntityNotFound, MalformedUSCC
from puhui.notifications import service as notifications
from puhui.verification import providers, repository, storage
from puhui.verification.errors import (
    AlreadyVerified,
    CallbackRejected,
    CallbackReplayed,
    ReviewNeedsSecondFactor,
    VerificationNotFound,
    VerificationRequired,
    WrongState,
)
from puhui.verification.models import (
    EXPIRED,
    PENDING,
    REJECTED,
    SUBJECT_PURPOSE,
    SUBMITTED,
    VERIFIED,
    CallbackNonce,
    IdentityDocument,
    IdentityVerification,
)
from puhui.verification.schemas import (
    ReviewDecision,
    ReviewDetail,
    ReviewItem,
    VerificationRead,
    VerificationStart,
    VerificationStatus,
    normalize_id_number,
    normalize_name,
)

DOCUMENT_KINDS = ("id_card", "holding")
NO_PHOTO = N_("No such photo (or it was deleted after the decision).")
TEMPLATE_SUBMITTED = "verification.submitted"
TEMPLATE_DECIDED = {
    VERIFIED: "verification.verified",
    REJECTED: "verification.rejected",
    EXPIRED: "verification.expired",
}
notifications.register_template(
    TEMPLATE_SUBMITTED,
    subject=N_("Identity verification #{id} to review"),
    body=N_("[Puhui] {entity} sent ID photos of its legal representative. Review them."),
)
notifications.register_template(
    TEMPLATE_DECIDED[VERIFIED],
    subject=N_("Your legal representative is verified"),
    body=N_(
        "[Puhui] The identity of your legal representative is verified: you can now "
        "authorize banks and apply for loans."
    ),
)
notifications.register_template(
    TEMPLATE_DECIDED[REJECTED],
    subject=N_("Identity verification rejected"),
    body=N_(
        "[Puhui] The identity verification of your legal representative was rejected: "
        "{reason}. You can start a new one."
    ),
)
notifications.register_template(
    TEMPLATE_DECIDED[EXPIRED],
    subject=N_("Identity verification expired"),
    body=N_(
        "[Puhui] The identity verification of your legal representative expired before it "
        "was finished. You can start a new one."
    ),
)


def _now(now: datetime | None) -> datetime:
    return now or utcnow()


def _folder(settings: Settings) -> Path:
    return settings.data_dir / "verification"


def subject_index(name: str, id_number: str) -> str | None:
    """The blind index of a (name, ID number) pair, as stored in ``subject_bidx``."""
    return blind_index(SUBJECT_PURPOSE, f"{normalize_name(name)}|{normalize_id_number(id_number)}")


def _registry_rep(session: Session, uscc: str) -> tuple[str, str] | None:
    """The registry's legal representative of ``uscc`` (read through the ORM attributes,
    which decrypt them where they are encrypted at rest), or None."""
    try:
        entity = entities.get_public(session, code=uscc)
    except (EntityNotFound, MalformedUSCC):
        return None
    name, number = entity.legal_rep_name, entity.legal_rep_id
    if not name or not number:
        return None
    return name, number


def _enterprise(actor: Actor) -> tuple[int, str]:
    if actor.role is not Role.ENTERPRISE or actor.user_id is None or not actor.entity_uscc:
        raise PermissionDenied(action="identity.verify")
    return actor.user_id, actor.entity_uscc


# --- the gate ------------------------------------------------------------------------------


def is_verified(session: Session, *, user_id: int, uscc: str) -> bool:
    found = repository.latest_verified(session, user_id=user_id, uscc=uscc)
    if found is None:
        return False
    if found.subject_bidx is None:
        return True
    rep = _registry_rep(session, uscc)
    return rep is None or subject_index(*rep) == found.subject_bidx


def require_verified(
    session: Session, *, actor: Actor | None, settings: Settings | None = None
) -> None:
    """Raise :class:`VerificationRequired` unless ``actor`` may take a sensitive step:
    anyone but an enterprise account, or one whose legal representative is verified."""
    settings = settings or get_settings()
    if not settings.identity_verification_required:
        return
    if actor is None or actor.role is not Role.ENTERPRISE or actor.user_id is None:
        return  # the gate is about people: internal enterprise actors (demo seeding) pass
    if not actor.entity_uscc:
        raise VerificationRequired()
    if not is_verified(session, user_id=actor.user_id, uscc=actor.entity_uscc):
        raise VerificationRequired()


def needs_verification(session: Session, *, actor: Actor | None) -> bool:
    """Whether the pages should tell this account to verify (for the header banner)."""
    try:
        require_verified(session, actor=actor)
    except VerificationRequired:
        return True
    return False


# --- reading -------------------------------------------------------------------------------


def read(v: IdentityVerification) -> VerificationRead:
    return VerificationRead(
        id=v.id,
        provider=v.provider,
        status=v.status,
        legal_rep_name=mask_name(v.claimed_name),
        legal_rep_id_number=mask_id_number(v.claimed_id_number),
        redirect_url=v.redirect_url if v.status == PENDING else None,
        reason=v.reason,
        created_at=v.created_at,
        submitted_at=v.submitted_at,
        decided_at=v.decided_at,
        expires_at=v.expires_at,
        needs_documents=v.provider == "manual" and v.status == PENDING,
    )


def status(
    session: Session, *, actor: Actor, settings: Settings | None = None
) -> VerificationStatus:
    settings = settings or get_settings()
    user_id, uscc = _enterprise(actor)
    latest = repository.latest(session, user_id=user_id, uscc=uscc)
    return VerificationStatus(
        required=settings.identity_verification_required,
        verified=is_verified(session, user_id=user_id, uscc=uscc),
        provider=settings.identity_verification_provider,
        latest=read(latest) if latest is not None else None,
    )


# --- starting and documents ----------------------------------------------------------------


def start(
    session: Session,
    *,
    actor: Actor,
    data: VerificationStart,
    base_url: str,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> IdentityVerification:
    """Start verifying the claimed legal representative of the actor's entity."""
    settings = settings or get_settings()
    at = _now(now)
    user_id, uscc = _enterprise(actor)
    # two starts at once would each find no attempt and leave two pending: one at a time
    accounts.lock_user(session, user_id)
    if is_verified(session, user_id=user_id, uscc=uscc):
        raise AlreadyVerified()
    latest = repository.latest(session, user_id=user_id, uscc=uscc, for_update=True)
    if latest is not None and latest.status == SUBMITTED:
        raise WrongState(state=SUBMITTED)
    rep = _registry_rep(session, uscc)
    if rep is None:
        raise field_error(
            "legal_rep_name",
            N_(
                "The registry records no legal representative for this entity; ask the "
                "registration authority to record one."
            ),
        )
    claimed = subject_index(data.legal_rep_name, data.legal_rep_id_number)
    if claimed != subject_index(*rep):
        message = N_(
            "The name and ID number do not match the legal representative recorded in the "
            "registry for this entity."
        )
        raise ValidationFailed(
            message,
            code="legal_rep_mismatch",
            details=[
                {"field": "legal_rep_name", "message": message},
                {"field": "legal_rep_id_number", "message": message},
            ],
        )
    if latest is not None and latest.status == PENDING:
        latest.status, latest.reason, latest.decided_at = EXPIRED, "replaced", at
        _schedule_purge(session, latest, at, settings)
    provider = providers.for_settings(settings)
    row = IdentityVerification(
        user_id=user_id,
        entity_uscc=uscc,
        provider=provider.name,
        reference="",
        status=PENDING,
        claimed_name=data.legal_rep_name,
        claimed_id_number=data.legal_rep_id_number,
        subject_bidx=claimed,
        expires_at=at + timedelta(hours=settings.identity_verification_pending_hours),
    )
    session.add(row)
    session.flush()
    started = provider.start(
        verification_id=row.id,
        name=data.legal_rep_name,
        id_number=data.legal_rep_id_number,
        callback_url=base_url.rstrip("/") + providers.CALLBACK_PATH,
        return_url=base_url.rstrip("/") + "/verification",
    )
    row.reference, row.redirect_url = started.reference, started.redirect_url
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="identity.start",
        target_type="identity_verification",
        target_id=row.id,
        details={"provider": row.provider, "uscc": uscc},
    )
    return row


def upload_documents(
    session: Session,
    *,
    actor: Actor,
    photos: Mapping[str, bytes],
    settings: Settings | None = None,
    now: datetime | None = None,
) -> IdentityVerification:
    """The two photos of a pending manual verification: the ID card (``id_card``) and the
    legal representative holding it (``holding``). Both are checked before either is
    written; the verification then waits in the operators' queue."""
    settings = settings or get_settings()
    at = _now(now)
    user_id, uscc = _enterprise(actor)
    row = repository.latest(session, user_id=user_id, uscc=uscc, for_update=True)
    if row is None or row.provider != "manual" or row.status != PENDING:
        raise WrongState(state=row.status if row is not None else "not started")
    kinds: dict[str, str] = {}
    for kind in DOCUMENT_KINDS:
        try:
            kinds[kind] = storage.check_image(photos.get(kind, b""))
        except storage.ImageProblem as exc:
            raise field_error(kind, str(exc)) from exc
    folder = _folder(settings)
    for kind in DOCUMENT_KINDS:
        content = photos[kind]
        name = storage.save(folder, verification_id=row.id, kind=kind, data=content)
        session.add(
            IdentityDocument(
                verification_id=row.id,
                kind=kind,
                content_type=kinds[kind],
                size_bytes=len(content),
                stored_name=name,
            )
        )
    row.status, row.submitted_at = SUBMITTED, at
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="identity.documents",
        target_type="identity_verification",
        target_id=row.id,
        details={kind: len(photos[kind]) for kind in DOCUMENT_KINDS},
    )
    name = _entity_name(session, uscc)
    for operator_id in _operators(session):
        notifications.notify(
            session,
            template=TEMPLATE_SUBMITTED,
            params={"id": row.id, "entity": name},
            user_id=operator_id,
            channels=("inbox",),
            dedupe_key=f"identity:{row.id}:submitted:{operator_id}",
        )
    return row


# --- the operators' review -----------------------------------------------------------------


def _entity_name(session: Session, uscc: str) -> str:
    try:
        return str(entities.get_public(session, code=uscc).name)
    except (EntityNotFound, MalformedUSCC):
        return uscc


def _item(session: Session, v: IdentityVerification, at: datetime) -> dict[str, Any]:
    since = v.submitted_at or v.created_at
    return {
        "id": v.id,
        "entity_uscc": v.entity_uscc,
        "entity_name": _entity_name(session, v.entity_uscc),
        "legal_rep_name": mask_name(v.claimed_name),
        "legal_rep_id_number": mask_id_number(v.claimed_id_number),
        "status": v.status,
        "submitted_at": v.submitted_at,
        "age_hours": max(0, int((at - since).total_seconds() // 3600)),
        "reason": v.reason,
    }


def queue(session: Session, *, params: PageParams, now: datetime | None = None) -> Page[ReviewItem]:
    at = _now(now)
    rows, total = repository.queue(session, offset=params.offset, limit=params.per_page)
    return Page(
        items=[ReviewItem(**_item(session, v, at)) for v in rows],
        total=total,
        page=params.page,
        per_page=params.per_page,
    )


def _get(
    session: Session, verification_id: int, *, for_update: bool = False
) -> IdentityVerification:
    row = repository.get(session, verification_id, for_update=for_update)
    if row is None:
        raise VerificationNotFound()
    return row


def review(
    session: Session,
    *,
    actor: Actor,
    verification_id: int,
    full: bool = False,
    now: datetime | None = None,
) -> ReviewDetail:
    """One verification for an operator; ``full`` shows the claimed name and ID number
    whole (the review page, to compare with the photo) and is audited as such; it needs a
    recent second-factor check (:class:`ReviewNeedsSecondFactor`)."""
    if full and not accounts.second_factor_recent(actor):
        raise ReviewNeedsSecondFactor()
    row = _get(session, verification_id)
    item = _item(session, row, _now(now))
    if full:
        item["legal_rep_name"], item["legal_rep_id_number"] = (
            row.claimed_name,
            row.claimed_id_number,
        )
    rep = _registry_rep(session, row.entity_uscc)
    audit.record(
        session,
        actor=actor,
        action="identity.review_open",
        target_type="identity_verification",
        target_id=row.id,
        details={"unmasked": full},
    )
    return ReviewDetail(
        **item,
        documents=[d.kind for d in repository.documents(session, row.id) if d.purged_at is None],
        registry_matches=rep is not None and subject_index(*rep) == row.subject_bidx,
    )


def document(
    session: Session,
    *,
    actor: Actor,
    verification_id: int,
    kind: str,
    settings: Settings | None = None,
) -> tuple[str, bytes]:
    """(content type, bytes) of one photo, for operators after a recent second-factor
    check; every view is audited."""
    settings = settings or get_settings()
    if not accounts.second_factor_recent(actor, settings):
        raise ReviewNeedsSecondFactor()
    row = _get(session, verification_id)
    found = next((d for d in repository.documents(session, row.id) if d.kind == kind), None)
    if found is None or found.purged_at is not None:
        raise VerificationNotFound(NO_PHOTO)
    content = storage.load(
        _folder(settings), stored_name=found.stored_name, verification_id=row.id, kind=kind
    )
    if content is None:
        raise VerificationNotFound(NO_PHOTO)
    audit.record(
        session,
        actor=actor,
        action="identity.document_read",
        target_type="identity_verification",
        target_id=row.id,
        details={"kind": kind},
    )
    return found.content_type, content


def decide(
    session: Session,
    *,
    actor: Actor,
    verification_id: int,
    data: ReviewDecision,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> IdentityVerification:
    """An operator approves or rejects (with a reason) a submitted manual verification."""
    settings = settings or get_settings()
    row = _get(session, verification_id, for_update=True)
    if row.status != SUBMITTED:
        raise WrongState(state=row.status)
    if not data.approve and len(data.reason) < 2:
        raise field_error("reason", N_("Say why the verification is rejected."))
    if data.approve and row.user_id == actor.user_id:
        raise PermissionDenied(action="identity.review")
    _conclude(
        session,
        row,
        VERIFIED if data.approve else REJECTED,
        data.reason or None,
        actor=actor,
        settings=settings,
        now=_now(now),
    )
    return row


def _schedule_purge(
    session: Session, row: IdentityVerification, at: datetime, settings: Settings
) -> None:
    keep = timedelta(days=settings.identity_document_retention_days)
    for doc in repository.documents(session, row.id):
        if doc.purged_at is None:
            doc.purge_after = at + keep


def _conclude(
    session: Session,
    row: IdentityVerification,
    outcome: str,
    reason: str | None,
    *,
    actor: Actor | None,
    settings: Settings,
    now: datetime,
) -> None:
    row.status, row.reason, row.decided_at = outcome, reason, now
    row.decided_by = actor.user_id if actor is not None else None
    _schedule_purge(session, row, now, settings)
    session.flush()
    audit.record(
        session,
        actor=actor,
        username=None
        if actor is not None
        else ("platform" if outcome == EXPIRED else f"provider:{row.provider}"),
        action=f"identity.{outcome}",
        target_type="identity_verification",
        target_id=row.id,
        details={"provider": row.provider, "reason": reason},
    )
    notifications.notify(
        session,
        template=TEMPLATE_DECIDED[outcome],
        params={"reason": reason or ""} if outcome == REJECTED else {},
        user_id=row.user_id,
        dedupe_key=f"identity:{row.id}:decided",
    )


def attest_in_person(
    session: Session,
    *,
    actor: Actor,
    user_id: int,
    uscc: str,
    note: str,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> IdentityVerification:
    """An operator attests that the registry's legal representative of ``uscc`` was
    verified in person (ID card checked at the service counter) for the account
    ``user_id``: a verified attempt of the ``manual`` provider without photos. The demo
    uses it for its enterprise."""
    settings = settings or get_settings()
    at = _now(now)
    if actor.role is not Role.OPERATOR:
        raise PermissionDenied(action="identity.review")
    rep = _registry_rep(session, uscc)
    if rep is None:
        raise field_error(
            "uscc", N_("The registry records no legal representative for this entity.")
        )
    row = IdentityVerification(
        user_id=user_id,
        entity_uscc=uscc,
        provider="manual",
        reference=f"p-{secrets.token_hex(12)}",
        status=PENDING,
        claimed_name=rep[0],
        claimed_id_number=rep[1],
        subject_bidx=subject_index(*rep),
        expires_at=at,
    )
    session.add(row)
    session.flush()
    _conclude(session, row, VERIFIED, note[:500], actor=actor, settings=settings, now=at)
    return row


# --- the http provider's results -----------------------------------------------------------


def handle_callback(
    session: Session,
    *,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> IdentityVerification:
    """A signed result from the HTTP provider: authenticated, never twice (its nonce is
    kept for twice the accepted skew), applied to an open verification."""
    settings = settings or get_settings()
    at = _now(now)
    if settings.identity_verification_provider != "http":
        raise CallbackRejected(reason="the http provider is not enabled")
    provider = providers.for_settings(settings, "http")
    nonce, result = provider.callback(path=path, headers=headers, body=body, now=at)
    if repository.nonce_seen(session, nonce):
        raise CallbackReplayed()
    try:
        with session.begin_nested():  # two deliveries at once: the second fails here
            session.add(CallbackNonce(nonce=nonce, received_at=at))
    except IntegrityError as exc:
        raise CallbackReplayed() from exc
    row = repository.by_reference(session, "http", result.reference)
    if row is None:
        raise CallbackRejected(reason="unknown reference")
    if not row.is_open():
        if row.status == (result.result or ""):
            return row  # the same result again (a retried delivery): nothing changes
        raise CallbackRejected(reason=f"the verification is already {row.status}")
    if result.result is not None:
        _conclude(session, row, result.result, result.reason, actor=None, settings=settings, now=at)
    return row


def poll_pending(
    session: Session,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
    limit: int = 100,
) -> int:
    """Ask the HTTP provider about pending attempts whose callback has not come (a lost
    callback must not leave a user waiting); returns how many were concluded."""
    settings = settings or get_settings()
    if settings.identity_verification_provider != "http":
        return 0
    at = _now(now)
    provider = providers.for_settings(settings, "http")
    done = 0
    for row in repository.pending_of(session, "http", limit=limit):
        if not row.reference:
            continue
        result = provider.poll(reference=row.reference)
        if result.result is not None and result.reference == row.reference:
            _conclude(
                session, row, result.result, result.reason, actor=None, settings=settings, now=at
            )
            done += 1
    return done


def reseal_documents(session: Session, *, settings: Settings | None = None) -> int:
    """Encrypt every kept photo that is under an older data key again under the active one
    (``puhui keys rotate``); returns how many were rewritten."""
    folder = _folder(settings or get_settings())
    return sum(
        storage.reseal(folder, stored_name=name, verification_id=vid, kind=kind)
        for vid, kind, name in repository.kept_documents(session)
    )


# --- scheduled clean-up --------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    expired: int
    purged: int
    nonces: int


def sweep(
    session: Session, *, settings: Settings | None = None, now: datetime | None = None
) -> SweepResult:
    """Expire unfinished attempts past their time, delete photos past their retention,
    forget callback nonces older than twice the accepted skew."""
    settings = settings or get_settings()
    at = _now(now)
    expired = 0
    for row in repository.stale_open(session, now=at):
        _conclude(session, row, EXPIRED, None, actor=None, settings=settings, now=at)
        expired += 1
    folder = _folder(settings)
    purged = 0
    for doc in repository.due_for_purge(session, now=at):
        storage.delete(folder, doc.stored_name)
        doc.purged_at = at
        purged += 1
    # photos of a request that was rolled back after they were written: no row names them
    old = storage.older_files(folder, before=(at - timedelta(hours=1)).timestamp())
    for start_at in range(0, len(old), 500):
        names = old[start_at : start_at + 500]
        for orphan in set(names) - repository.known_names(session, names):
            storage.delete(folder, orphan)
    if purged:
        audit.record(
            session,
            actor=None,
            username="platform",
            action="identity.documents_purged",
            details={"documents": purged},
        )
    nonces = repository.forget_nonces(
        session,
        before=at - timedelta(seconds=2 * settings.identity_verification_callback_skew_seconds),
    )
    session.flush()
    return SweepResult(expired=expired, purged=purged, nonces=nonces)


def _operators(session: Session) -> list[int]:
    out: list[int] = []
    for inst in accounts.all_institutions(session):
        if inst.kind == InstitutionKind.PLATFORM.value and inst.is_active:
            out.extend(
                uid
                for uid, _ in accounts.institution_staff(
                    session, institution_id=inst.id, role=Role.OPERATOR.value
                )
            )
    return out
