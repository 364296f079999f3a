"""Private set intersection (隐私求交): a lender learns how many — and, where allowed,
which — of its own customers are in a filtered set, without sending its list in clear.

The arithmetic and its security argument are in :mod:`puhui.psi.protocol`; this module is
the policy around it.

Invariants
- A session belongs to the institution that opened it (others get 404), runs once and
  expires after ``PUHUI_PSI_SESSION_MINUTES``. Its server scalar is derived from the
  platform secret and the session's nonce; using or expiring the session erases the nonce.
- *which* mode needs three yeses: the request asks for it, the platform allows it
  (``PUHUI_PSI_WHICH_ENABLED``) and an operator granted it to the institution. Otherwise
  the answer to the bank's values is shuffled, so only the count can be learned.
- The filtered set is the acquisition filter's: the 50 key indicators, registered
  entities only, marketing opt-outs excluded. Its values leave the server only blinded and
  shuffled; a filter matching more than ``PUHUI_PSI_MAX_SERVER_ITEMS`` is refused.
- Sessions per institution are rate limited (``PUHUI_PSI_SESSIONS_PER_HOUR``) in the
  database, across processes. Every open and every run writes an audit event with mode,
  filter and sizes — never an item.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy.orm import Session

from puhui.accounts import service as accounts
from puhui.acquisition import service as acquisition
from puhui.acquisition.schemas import FilterRequest
from puhui.audit import service as audit
from puhui.config import Settings, get_settings
from puhui.core import limits
from puhui.core.i18n import N_
from puhui.core.orm import utcnow
from puhui.core.policy import Actor
from puhui.psi import protocol, repository
from puhui.psi.errors import PsiInvalid, PsiSessionClosed, PsiSessionNotFound, WhichNotAllowed
from puhui.psi.models import DONE, PsiSession
from puhui.psi.schemas import (
    PsiGrantRead,
    PsiIntersectRequest,
    PsiIntersectResult,
    PsiSessionCreate,
    PsiSessionRead,
)

__all__ = [
    "expire_sessions",
    "get_session",
    "grant",
    "grant_state",
    "intersect",
    "open_session",
    "revoke",
]

AUDIT_SUMMARY_CHARS = 2000
RATE_MESSAGE = N_(
    "Your institution has opened too many PSI sessions this hour; try again in {seconds} seconds."
)


def _filter(data: PsiSessionCreate | dict[str, object]) -> FilterRequest:
    if isinstance(data, PsiSessionCreate):
        return FilterRequest(conditions=data.conditions, match=data.match)
    return FilterRequest.model_validate(data)


def _read(row: PsiSession, settings: Settings) -> PsiSessionRead:
    return PsiSessionRead(
        id=row.public_id,
        mode="which" if row.mode == "which" else "count",
        status=row.status,
        filter_summary=row.filter_summary,
        server_items=row.server_items,
        client_items=row.client_items,
        max_items=settings.psi_max_items,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def _institution(actor: Actor) -> int:
    if actor.institution_id is None:
        raise WhichNotAllowed()  # unreachable for the roles that may run PSI
    return actor.institution_id


def which_allowed(session: Session, *, institution_id: int, settings: Settings) -> bool:
    return settings.psi_which_enabled and repository.grant(session, institution_id) is not None


def open_session(
    session: Session, *, actor: Actor, data: PsiSessionCreate, settings: Settings | None = None
) -> PsiSessionRead:
    """Check the filter (and that it is narrow enough), the mode and the institution's
    hourly budget; open a session for one intersection."""
    settings = settings or get_settings()
    institution_id = _institution(actor)
    request = _filter(data)
    total, _ = acquisition.matching_usccs(session, actor=actor, request=request, at_most=0)
    _check_breadth(total, settings)
    if data.mode == "which" and not which_allowed(
        session, institution_id=institution_id, settings=settings
    ):
        raise WhichNotAllowed()
    limits.hit(
        session,
        limits.Limit("psi.session", settings.psi_sessions_per_hour, 3600),
        str(institution_id),
        secret=settings.secret_key,
        message=RATE_MESSAGE,
    )
    now = utcnow()
    text = acquisition.filter_summary(request)[:AUDIT_SUMMARY_CHARS]
    row = repository.add_session(
        session,
        PsiSession(
            public_id=secrets.token_urlsafe(16),
            institution_id=institution_id,
            user_id=actor.user_id,
            api_key_id=actor.api_key_id,
            mode=data.mode,
            filter=request.model_dump(mode="json", include={"conditions", "match"}),
            filter_summary=text,
            nonce=secrets.token_hex(32),
            server_items=total,
            expires_at=now + timedelta(minutes=settings.psi_session_minutes),
            created_at=now,
        ),
    )
    audit.record(
        session,
        actor=actor,
        action="psi.open",
        target_type="psi_session",
        target_id=row.public_id,
        ip=actor.ip,
        details={"mode": data.mode, "filter": text, "matched": total},
    )
    return _read(row, settings)


def get_session(
    session: Session, *, actor: Actor, public_id: str, settings: Settings | None = None
) -> PsiSessionRead:
    row = repository.session_of(session, public_id=public_id, institution_id=_institution(actor))
    if row is None:
        raise PsiSessionNotFound()
    return _read(row, settings or get_settings())


def intersect(
    session: Session,
    *,
    actor: Actor,
    public_id: str,
    data: PsiIntersectRequest,
    settings: Settings | None = None,
) -> PsiIntersectResult:
    """Raise the bank's blinded values to the session's secret, blind the filtered set with
    it, and close the session."""
    settings = settings or get_settings()
    row = repository.session_of(
        session, public_id=public_id, institution_id=_institution(actor), for_update=True
    )
    if row is None:
        raise PsiSessionNotFound()
    now = utcnow()
    if not row.is_open(now) or row.nonce is None:
        raise PsiSessionClosed()
    if len(data.items) > settings.psi_max_items:
        raise PsiInvalid.at(
            "items",
            N_("A PSI session takes at most {max} items; {n} were sent."),
            max=settings.psi_max_items,
            n=len(data.items),
        )
    try:
        points = protocol.decode(data.items)
        mode = row.mode
        if mode == "which" and not which_allowed(
            session, institution_id=row.institution_id, settings=settings
        ):
            raise WhichNotAllowed()  # revoked since the session was opened
        secret = protocol.derive_secret(settings.secret_key.encode(), row.nonce)
        doubled = protocol.blind(secret, points)
    except protocol.MalformedPoint as exc:
        raise PsiInvalid.at(
            f"items.{exc.index}",
            N_("Item {index} is not a blinded value (base64 of 32 bytes on the curve)."),
            index=exc.index,
        ) from None
    if mode != "which":
        doubled = protocol.shuffled(doubled)
    total, usccs = acquisition.matching_usccs(
        session,
        actor=actor,
        request=_filter(row.filter),
        at_most=settings.psi_max_server_items,
    )
    _check_breadth(total, settings)
    server = protocol.shuffled(protocol.blind_items(secret, usccs))
    row.status = DONE
    row.nonce = None
    row.client_items = len(points)
    row.server_items = total
    row.finished_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="psi.intersect",
        target_type="psi_session",
        target_id=row.public_id,
        ip=actor.ip,
        details={
            "mode": mode,
            "filter": row.filter_summary,
            "client_items": len(points),
            "server_items": total,
        },
    )
    return PsiIntersectResult(
        mode="which" if mode == "which" else "count",
        items=protocol.encode(doubled),
        server_items=protocol.encode(server),
    )


def _check_breadth(total: int, settings: Settings) -> None:
    if total > settings.psi_max_server_items:
        raise PsiInvalid.at(
            "conditions",
            N_(
                "The filter matches {n} entities; private set intersection compares against "
                "at most {max}. Narrow the filter."
            ),
            n=total,
            max=settings.psi_max_server_items,
        )


def expire_sessions(session: Session) -> int:
    """Close open sessions past their expiry and erase their nonces (a periodic job)."""
    return repository.expire_sessions(session, utcnow())


# --- which-mode grants ------------------------------------------------------------------------


def grant_state(session: Session, *, actor: Actor, institution_id: int) -> PsiGrantRead:
    accounts.get_institution(session, actor=actor, institution_id=institution_id)
    row = repository.grant(session, institution_id)
    return PsiGrantRead(
        institution_id=institution_id,
        granted=row is not None,
        since=row.created_at if row else None,
    )


def grant(session: Session, *, actor: Actor, institution_id: int) -> PsiGrantRead:
    """An operator allows an institution to run *which*-mode sessions."""
    accounts.get_institution(session, actor=actor, institution_id=institution_id)
    if repository.grant(session, institution_id) is None:
        repository.add_grant(session, institution_id=institution_id, user_id=actor.user_id)
        audit.record(
            session,
            actor=actor,
            action="psi.grant",
            target_type="institution",
            target_id=institution_id,
            ip=actor.ip,
        )
    return grant_state(session, actor=actor, institution_id=institution_id)


def revoke(session: Session, *, actor: Actor, institution_id: int) -> PsiGrantRead:
    accounts.get_institution(session, actor=actor, institution_id=institution_id)
    row = repository.grant(session, institution_id)
    if row is not None:
        repository.remove_grant(session, row)
        audit.record(
            session,
            actor=actor,
            action="psi.revoke",
            target_type="institution",
            target_id=institution_id,
            ip=actor.ip,
        )
    return grant_state(session, actor=actor, institution_id=institution_id)
