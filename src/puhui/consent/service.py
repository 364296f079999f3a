"""Authorizations and the query log: the one place that decides whether a caller may
read an entity's data (DESIGN.md §4).

Invariants
- :func:`authorize_read` is the only gate to entity data beyond public facts. An
  enterprise reads its own entity in full; an institution reads what a live
  authorization of *its own* institution covers, for the purpose it names; nobody else
  reads at all. A refusal raises :class:`ConsentRequired` (403), which the web layer
  records as a denial apart from the request's rolled-back transaction.
- Every successful read calls :func:`record_query`, which writes the query record and
  the read's audit event in the caller's transaction: one never exists without the other.
- "Expired" and "not yet started" are computed from the clock, never stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from puhui.accounts import service as accounts
from puhui.audit import service as audit
from puhui.config import get_settings
from puhui.consent import repository
from puhui.consent.errors import ConsentNotFound, ConsentRequired, ConsentStateConflict
from puhui.consent.models import DECLINED, GRANTED, REQUESTED, REVOKED, Consent, QueryRecord
from puhui.consent.schemas import (
    CATEGORIES,
    SELF,
    ConsentDecision,
    ConsentGrant,
    ConsentRead,
    ConsentRequest,
    InstitutionChoice,
    Purpose,
    QueryCount,
    QueryRecordRead,
)
from puhui.core.errors import PermissionDenied, field_error
from puhui.core.i18n import N_, gettext
from puhui.core.orm import utcnow
from puhui.core.pagination import Page, PageParams, paginate
from puhui.core.policy import LENDING_KINDS, Actor, Role
from puhui.entities import service as entities
from puhui.notifications import service as notifications
from puhui.verification import service as verification

__all__ = [
    "CATEGORIES",
    "SELF",
    "Purpose",
    "ReadScope",
    "approve",
    "authorize_institution",
    "authorize_read",
    "decline",
    "get_consent",
    "grant",
    "list_consents",
    "live_pairs",
    "query_counts",
    "query_records",
    "record_query",
    "request",
    "revoke",
    "state_of",
]

REQUEST_SMS = N_(
    "[Puhui] {institution} asks for an authorization to read your credit data (request {id}). "
    "Log in to approve or decline it."
)
APPROVED_SMS = N_("[Puhui] Your authorization request {id} was approved.")
DECLINED_SMS = N_("[Puhui] Your authorization request {id} was declined.")
INSTITUTION_ROLES = frozenset({Role.CUSTOMER_MANAGER, Role.RISK_MANAGER})


@dataclass(frozen=True)
class ReadScope:
    """What one caller may read of one entity, and why."""

    entity_id: int
    uscc: str
    purpose: str  # a Purpose, or "self" for an entity reading its own data
    categories: frozenset[str]
    consent_id: int | None
    own: bool  # the entity itself is reading

    def covers(self, category: str) -> bool:
        return category in self.categories


def state_of(consent: Consent, now: datetime | None = None) -> str:
    """requested, live, not_started, expired, declined or revoked."""
    if consent.status != GRANTED:
        return consent.status
    now = now or datetime.now(UTC)
    if now < consent.starts_at:
        return "not_started"
    if now >= consent.expires_at:
        return "expired"
    return "live"


# --- the gate --------------------------------------------------------------------------


def authorize_read(
    session: Session,
    actor: Actor,
    *,
    entity_id: int,
    uscc: str,
    purpose: Purpose,
    categories: Iterable[str] | None = None,
    now: datetime | None = None,
) -> ReadScope:
    """The scope through which ``actor`` may read entity ``entity_id`` for ``purpose``.

    ``categories`` names what the caller needs: every one must be covered, else 403
    ``out_of_scope``. Without it the scope is whatever the live authorizations cover."""
    wanted = frozenset(CATEGORIES if categories is None else categories)
    if actor.role is Role.ENTERPRISE:
        if actor.entity_uscc != uscc:
            raise _refuse(purpose, wanted, "not_own", uscc)
        return ReadScope(entity_id, uscc, SELF, frozenset(CATEGORIES), None, own=True)
    if actor.role not in INSTITUTION_ROLES or actor.institution_id is None:
        raise PermissionDenied(action="profile.read")
    return authorize_institution(
        session,
        institution_id=actor.institution_id,
        entity_id=entity_id,
        uscc=uscc,
        purpose=purpose,
        categories=categories,
        now=now,
    )


def authorize_institution(
    session: Session,
    *,
    institution_id: int,
    entity_id: int,
    uscc: str,
    purpose: Purpose,
    categories: Iterable[str] | None = None,
    now: datetime | None = None,
) -> ReadScope:
    """The scope of the live authorizations entity ``entity_id`` gave ``institution_id``
    for ``purpose`` (the institution side of :func:`authorize_read`, for reads made on an
    institution's behalf, e.g. an automated decision); 403 ``ConsentRequired`` with the
    reason when there is none that fits."""
    wanted = frozenset(CATEGORIES if categories is None else categories)
    now = now or datetime.now(UTC)
    mine = repository.consents_between(session, entity_id=entity_id, institution_id=institution_id)
    states = [(c, state_of(c, now)) for c in mine]
    live = [c for c, s in states if s == "live"]
    if not live:
        found = {s for _, s in states}
        reason = next(
            (r for r in ("expired", "revoked", "not_started") if r in found),
            "requested" if REQUESTED in found else "none",
        )
        raise _refuse(purpose, wanted, reason, uscc)
    fitting = [c for c in live if purpose.value in c.purposes]
    if not fitting:
        raise _refuse(purpose, wanted, "wrong_purpose", uscc)
    covered = frozenset(cat for c in fitting for cat in c.categories)
    if categories is not None and not wanted <= covered:
        raise _refuse(purpose, wanted - covered, "out_of_scope", uscc)
    best = max(fitting, key=lambda c: (len(set(c.categories) & wanted), c.expires_at))
    return ReadScope(entity_id, uscc, purpose.value, covered & wanted, best.id, own=False)


def live_pairs(
    session: Session,
    *,
    purpose: Purpose,
    institution_ids: Iterable[int],
    entity_ids: Iterable[int] | None = None,
    now: datetime | None = None,
) -> set[tuple[int, int]]:
    """The (institution, entity) pairs with a live authorization for ``purpose`` now: the
    bulk form of :func:`authorize_read` for work that reads many entities at once (e.g.
    post-loan monitoring of a watchlist)."""
    rows = repository.granted_between(
        session,
        institution_ids=sorted(set(institution_ids)),
        entity_ids=None if entity_ids is None else sorted(set(entity_ids)),
        now=now or datetime.now(UTC),
    )
    return {(i, e) for i, e, purposes in rows if purpose.value in purposes}


def _refuse(purpose: Purpose, categories: Iterable[str], reason: str, uscc: str) -> ConsentRequired:
    return ConsentRequired(
        purpose=purpose.value,
        categories=",".join(c for c in CATEGORIES if c in set(categories)),
        reason=reason,
        uscc=uscc,
    )


def record_query(
    session: Session,
    actor: Actor,
    scope: ReadScope,
    *,
    kind: str,
    categories: Iterable[str] | None = None,
    details: dict[str, Any] | None = None,
) -> QueryRecord:
    """The query record of one successful read, with its audit event, in this transaction."""
    shown = sorted(set(scope.categories if categories is None else categories))
    event = audit.record(
        session,
        actor=actor,
        action=f"entity.{kind}",
        target_type="entity",
        target_id=scope.uscc,
        details={
            "purpose": scope.purpose,
            "consent_id": scope.consent_id,
            "categories": shown,
            **(details or {}),
        },
    )
    record = QueryRecord(
        entity_id=scope.entity_id,
        institution_id=None if scope.own else actor.institution_id,
        user_id=actor.user_id,
        api_key_id=actor.api_key_id,
        username=actor.username[:64],
        role=str(actor.role),
        kind=kind,
        purpose=scope.purpose,
        consent_id=scope.consent_id,
        categories=shown,
        audit_event_id=event.id,
        details=details,
    )
    session.add(record)
    session.flush()
    return record


# --- authorizations --------------------------------------------------------------------


def institution_choices(session: Session) -> list[InstitutionChoice]:
    return [
        InstitutionChoice(id=i.id, name=i.name, kind=i.kind)
        for i in accounts.lending_institutions(session)
    ]


def _own_entity(session: Session, actor: Actor) -> Any:
    if actor.role is not Role.ENTERPRISE or not actor.entity_uscc:
        raise PermissionDenied(action="consent.grant")
    return entities.get_public(session, code=actor.entity_uscc)


def grant(session: Session, *, actor: Actor, data: ConsentGrant) -> Consent:
    """An enterprise authorizes a lending institution (once its legal representative is
    verified, decision 0019)."""
    entity = _own_entity(session, actor)
    verification.require_verified(session, actor=actor)
    institution = accounts.get_institution(session, actor=None, institution_id=data.institution_id)
    if not institution.is_active or institution.kind not in {k.value for k in LENDING_KINDS}:
        raise field_error(
            "institution_id",
            N_("Only an active bank or other lending institution can be authorized."),
        )
    now = utcnow()
    consent = Consent(
        entity_id=entity.id,
        institution_id=institution.id,
        purposes=[p.value for p in data.purposes],
        categories=list(data.categories),
        starts_at=data.starts_at or now,
        expires_at=data.expires_at,
        status=GRANTED,
        note=data.note,
        decided_by=actor.user_id,
        decided_at=now,
    )
    session.add(consent)
    session.flush()
    _audit(session, actor, "consent.grant", consent)
    return consent


def request(session: Session, *, actor: Actor, data: ConsentRequest) -> Consent:
    """An institution asks an entity for an authorization; the entity is told by SMS."""
    if actor.institution_id is None:
        raise PermissionDenied(action="consent.request")
    entity = entities.get_public(session, code=data.uscc)
    consent = Consent(
        entity_id=entity.id,
        institution_id=actor.institution_id,
        purposes=[p.value for p in data.purposes],
        categories=list(data.categories),
        starts_at=data.starts_at or utcnow(),
        expires_at=data.expires_at,
        status=REQUESTED,
        note=data.note,
        requested_by=actor.user_id,
    )
    session.add(consent)
    session.flush()
    names = accounts.institution_names(session, {actor.institution_id})
    for user_id, mobile in accounts.enterprise_contacts(session, entity.uscc):
        if mobile:
            notifications.send_sms(
                session,
                recipient=mobile,
                body=gettext(
                    get_settings().default_locale,
                    REQUEST_SMS,
                    institution=names.get(actor.institution_id, ""),
                    id=consent.id,
                ),
                purpose="consent.request",
                user_id=user_id,
            )
    _audit(session, actor, "consent.request", consent)
    return consent


def _entity_consent(session: Session, actor: Actor, consent_id: int) -> Consent:
    entity = _own_entity(session, actor)
    consent = repository.consent(session, consent_id)
    if consent is None or consent.entity_id != entity.id:
        raise ConsentNotFound()
    return consent


def _decide(
    session: Session, actor: Actor, consent_id: int, data: ConsentDecision, *, approve: bool
) -> Consent:
    consent = _entity_consent(session, actor, consent_id)
    if approve:
        verification.require_verified(session, actor=actor)
    if consent.status != REQUESTED:
        raise ConsentStateConflict(
            state=consent.status, change="approved" if approve else "declined"
        )
    if approve and consent.expires_at <= datetime.now(UTC):
        raise ConsentStateConflict(state="expired", change="approved")
    consent.status = GRANTED if approve else DECLINED
    consent.decided_by = actor.user_id
    consent.decided_at = utcnow()
    if data.note:
        consent.note = data.note
    session.flush()
    _audit(session, actor, "consent.approve" if approve else "consent.decline", consent)
    mobile = accounts.user_mobile(session, consent.requested_by)
    if mobile:
        notifications.send_sms(
            session,
            recipient=mobile,
            body=gettext(
                get_settings().default_locale,
                APPROVED_SMS if approve else DECLINED_SMS,
                id=consent.id,
            ),
            purpose="consent.decision",
            user_id=consent.requested_by,
        )
    return consent


def approve(session: Session, *, actor: Actor, consent_id: int, data: ConsentDecision) -> Consent:
    return _decide(session, actor, consent_id, data, approve=True)


def decline(session: Session, *, actor: Actor, consent_id: int, data: ConsentDecision) -> Consent:
    return _decide(session, actor, consent_id, data, approve=False)


def revoke(session: Session, *, actor: Actor, consent_id: int) -> Consent:
    """The entity withdraws an authorization; reads stop at once."""
    consent = _entity_consent(session, actor, consent_id)
    if consent.status != GRANTED:
        raise ConsentStateConflict(state=consent.status, change="revoked")
    consent.status = REVOKED
    consent.revoked_at = utcnow()
    session.flush()
    _audit(session, actor, "consent.revoke", consent)
    return consent


def grant_with_demand(
    session: Session,
    *,
    actor: Actor | None,
    entity_id: int,
    institution_id: int,
    expires_at: datetime,
    note: str,
) -> int:
    """The ``query`` authorization an enterprise gives by raising a financing demand,
    for the institution that claims it (all categories, until ``expires_at``). Returns
    its id; :func:`end_demand_grant` withdraws it when the claim ends unserved."""
    now = utcnow()
    consent = Consent(
        entity_id=entity_id,
        institution_id=institution_id,
        purposes=[Purpose.QUERY.value],
        categories=list(CATEGORIES),
        starts_at=now,
        expires_at=expires_at,
        status=GRANTED,
        note=note[:300],
        decided_at=now,
    )
    session.add(consent)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="consent.grant_with_demand",
        target_type="consent",
        target_id=consent.id,
        details={
            "entity_id": entity_id,
            "institution_id": institution_id,
            "purposes": consent.purposes,
            "expires_at": expires_at.isoformat(),
            "note": consent.note,
        },
    )
    return consent.id


def end_demand_grant(session: Session, *, actor: Actor | None, consent_id: int) -> None:
    """Withdraw an authorization :func:`grant_with_demand` made (the claim ended without
    a loan); anything already revoked is left alone."""
    consent = repository.consent(session, consent_id)
    if consent is None or consent.status != GRANTED:
        return
    consent.status = REVOKED
    consent.revoked_at = utcnow()
    session.flush()
    _audit(session, actor, "consent.end_with_demand", consent)


def _audit(session: Session, actor: Actor | None, action: str, consent: Consent) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        target_type="consent",
        target_id=consent.id,
        details={
            "entity_id": consent.entity_id,
            "institution_id": consent.institution_id,
            "purposes": consent.purposes,
            "categories": consent.categories,
            "expires_at": consent.expires_at.isoformat(),
        },
    )


def _own_entity_id(session: Session, actor: Actor) -> int:
    """The registry id of the caller's entity; 0 (no entity has it) while the registry
    does not list it yet, so lists are simply empty."""
    if actor.role is not Role.ENTERPRISE or not actor.entity_uscc:
        raise PermissionDenied(action="consent.read")
    return entities.ids_for(session, [actor.entity_uscc]).get(actor.entity_uscc, 0)


def consents_of(session: Session, actor: Actor) -> list[Consent]:
    """Every authorization of the caller's entity (or institution), newest first."""
    flt = _scope_filter(session, actor)
    query = repository.consents_query(
        entity_id=flt.get("entity_id"), institution_id=flt.get("institution_id")
    )
    return list(session.scalars(query))


def _scope_filter(session: Session, actor: Actor) -> dict[str, int]:
    if actor.role is Role.ENTERPRISE:
        return {"entity_id": _own_entity_id(session, actor)}
    if actor.institution_id is None:
        raise PermissionDenied(action="consent.read")
    return {"institution_id": actor.institution_id}


def list_consents(
    session: Session, *, actor: Actor, status: str | None, params: PageParams
) -> Page[ConsentRead]:
    page = paginate(
        session,
        repository.consents_query(
            **_scope_filter(session, actor), statuses=[status] if status else None
        ),
        params,
    )
    return Page(
        items=_reads(session, page.items),
        total=page.total,
        page=page.page,
        per_page=page.per_page,
    )


def get_consent(session: Session, *, actor: Actor, consent_id: int) -> ConsentRead:
    consent = repository.consent(session, consent_id)
    scope = _scope_filter(session, actor)
    if consent is None or any(getattr(consent, k) != v for k, v in scope.items()):
        raise ConsentNotFound()
    return _reads(session, [consent])[0]


def read(session: Session, consent: Consent) -> ConsentRead:
    return _reads(session, [consent])[0]


def _reads(session: Session, consents: list[Consent]) -> list[ConsentRead]:
    briefs = entities.briefs(session, {c.entity_id for c in consents})
    names = accounts.institution_names(session, {c.institution_id for c in consents})
    now = datetime.now(UTC)
    return [
        ConsentRead(
            id=c.id,
            uscc=briefs.get(c.entity_id, ("", ""))[0],
            entity_name=briefs.get(c.entity_id, ("", ""))[1],
            institution_id=c.institution_id,
            institution_name=names.get(c.institution_id, ""),
            purposes=list(c.purposes),
            categories=list(c.categories),
            starts_at=c.starts_at,
            expires_at=c.expires_at,
            status=c.status,
            state=state_of(c, now),
            note=c.note,
            created_at=c.created_at,
            decided_at=c.decided_at,
            revoked_at=c.revoked_at,
        )
        for c in consents
    ]


# --- query records ---------------------------------------------------------------------


def query_records(session: Session, *, actor: Actor, params: PageParams) -> Page[QueryRecordRead]:
    """Reads of entity data the caller may see: an enterprise its own entity's ("who
    looked at me"), an institution its own staff's, the regulator everyone's."""
    if actor.role is Role.ENTERPRISE:
        query = repository.query_records_query(entity_id=_own_entity_id(session, actor))
    elif actor.role is Role.REGULATOR:
        query = repository.query_records_query()
    elif actor.institution_id is not None:
        query = repository.query_records_query(institution_id=actor.institution_id)
    else:
        raise PermissionDenied(action="query_records.read")
    page = paginate(session, query, params)
    records: list[QueryRecord] = list(page.items)
    briefs = entities.briefs(session, {r.entity_id for r in records})
    names = accounts.institution_names(
        session, {r.institution_id for r in records if r.institution_id is not None}
    )
    items = [
        QueryRecordRead(
            id=r.id,
            created_at=r.created_at,
            uscc=briefs.get(r.entity_id, ("", ""))[0],
            entity_name=briefs.get(r.entity_id, ("", ""))[1],
            institution_id=r.institution_id,
            institution_name=None if r.institution_id is None else names.get(r.institution_id),
            user=r.username,
            kind=r.kind,
            purpose=r.purpose,
            consent_id=r.consent_id,
            categories=list(r.categories),
        )
        for r in records
    ]
    return Page(items=items, total=page.total, page=page.page, per_page=page.per_page)


def query_counts(
    session: Session, *, since: datetime | None = None, until: datetime | None = None
) -> list[QueryCount]:
    """How many reads each institution made, by purpose (the regulator's view)."""
    rows = repository.query_counts(session, since=since, until=until)
    names = accounts.institution_names(session, {i for i, _, _ in rows if i is not None})
    counts = [
        QueryCount(
            institution_id=i,
            institution_name=None if i is None else names.get(i),
            purpose=purpose,
            count=n,
        )
        for i, purpose, n in rows
    ]
    return sorted(counts, key=lambda c: (-c.count, c.institution_name or "", c.purpose))


def get_query_record(session: Session, record_id: int) -> QueryRecord | None:
    return session.get(QueryRecord, record_id)


def annotate_query_record(session: Session, record_id: int, extra: dict[str, Any]) -> None:
    record = session.get(QueryRecord, record_id)
    if record is not None:
        record.details = {**(record.details or {}), **extra}
        session.flush()
