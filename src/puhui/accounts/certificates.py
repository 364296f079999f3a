"""Institutions' client certificates and API keys bound to them (decision 0018).

Invariants
- Every certificate the platform CA issues is recorded here (serial, institution, subject,
  SHA-256 fingerprint, validity) in the same transaction as its audit record; a
  certificate that failed to be recorded is never handed out.
- A key bound to a certificate is accepted only on a request presenting exactly that
  certificate (fingerprint), while it is neither revoked nor outside its validity; when
  the institution requires client certificates an unbound key is refused too. Refusals
  are 401 with a reason and are audited (on a session of their own: the request fails).
- An institution binds its keys to its own certificates only; another institution's key
  or certificate is "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from puhui.accounts import repository
from puhui.accounts.errors import (
    ApiKeyNotFound,
    CertificateNotFound,
    ClientCertificateRejected,
    InstitutionNotFound,
)
from puhui.accounts.models import ApiKey, ClientCertificate, Institution
from puhui.audit import service as audit
from puhui.core.errors import Conflict, PermissionDenied, field_error
from puhui.core.i18n import N_
from puhui.core.orm import utcnow
from puhui.core.pagination import Page, PageParams, paginate
from puhui.core.policy import Actor
from puhui.core.security import ca

REJECTIONS = {
    "no_certificate": N_(
        "This API key is bound to a client certificate: call over mutual TLS with that certificate."
    ),
    "wrong_certificate": N_(
        "The client certificate presented is not the one this API key is bound to."
    ),
    "revoked": N_("The client certificate this API key is bound to has been revoked."),
    "expired": N_("The client certificate this API key is bound to has expired."),
    "not_yet_valid": N_("The client certificate this API key is bound to is not valid yet."),
    "unbound": N_(
        "Your institution requires a client certificate for every API key, and this key is "
        "not bound to one."
    ),
}

# what ClientCertificate.status() answers, as the pages show it
STATUS_LABELS = {
    "valid": N_("In force"),
    "revoked": N_("Revoked"),
    "expired": N_("Expired"),
    "not_yet_valid": N_("Not yet valid"),
}

UNBINDABLE = {
    "revoked": N_("The certificate {serial} is revoked and cannot be bound."),
    "expired": N_("The certificate {serial} has expired and cannot be bound."),
    "not_yet_valid": N_("The certificate {serial} is not valid yet and cannot be bound."),
}


@dataclass(frozen=True)
class Issued:
    record: ClientCertificate
    pem: str
    private_key_pem: bytes | None  # only when the platform generated the key pair


def institution_for_cli(session: Session, code: str) -> Institution:
    """The institution ``puhui ca issue --institution`` names (its code, or else its name)."""
    inst = repository.institution_by_code(session, code) or repository.institution_by_name(
        session, code
    )
    if inst is None:
        raise InstitutionNotFound(f"No institution has the code or name {code!r}.")
    if not inst.is_active:
        raise Conflict(f"The institution {code!r} is disabled.")
    return inst


def issue(
    session: Session,
    *,
    authority: ca.Authority,
    institution: Institution,
    csr_data: bytes | None,
    days: int,
) -> Issued:
    """Sign the institution's CSR (its private key never leaves it), or without a CSR
    generate a key pair for it; record and audit the certificate."""
    private_pem = None
    if csr_data is not None:
        public = ca.check_csr(csr_data).public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)  # check_csr guarantees it
    else:
        key = ca.new_client_key()
        public = key.public_key()
        private_pem = ca.private_key_pem(key)
    code = institution.code or f"institution-{institution.id}"
    cert = ca.issue(
        authority, public, subject=ca.client_subject(code=code, name=institution.name), days=days
    )
    record = ClientCertificate(
        serial=ca.serial_hex(cert),
        institution_id=institution.id,
        subject=ca.subject_text(cert),
        fingerprint=ca.fingerprint(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        pem=ca.certificate_pem(cert),
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        actor=None,
        username="cli",
        action="certificate.issue",
        target_type="client_certificate",
        target_id=record.id,
        details={
            "serial": record.serial,
            "institution_id": institution.id,
            "fingerprint": record.fingerprint,
            "not_after": record.not_after.isoformat(),
            "from_csr": csr_data is not None,
        },
    )
    return Issued(record=record, pem=record.pem, private_key_pem=private_pem)


def list_all(
    session: Session, *, institution_id: int | None, limit: int = 1000
) -> list[ClientCertificate]:
    stmt = repository.certificates_query(institution_id).limit(limit)
    return list(session.scalars(stmt))


def revoke_by_serial(session: Session, *, serial: str) -> tuple[ClientCertificate, list[int]]:
    """Revoke a certificate (``puhui ca revoke``); returns it and the ids of keys bound to
    it (which stop working at once)."""
    normal = serial.strip().lower().replace(":", "").lstrip("0") or "0"
    record = repository.certificate_by_serial(session, normal)
    if record is None:
        raise CertificateNotFound(f"No certificate has the serial {serial!r}.")
    keys = [k.id for k in repository.keys_bound_to(session, record.id)]
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        audit.record(
            session,
            actor=None,
            username="cli",
            action="certificate.revoke",
            target_type="client_certificate",
            target_id=record.id,
            details={"serial": record.serial, "bound_keys": keys},
        )
    session.flush()
    return record, keys


# --- institution administrators -------------------------------------------------------------


def list_for_institution(
    session: Session, *, actor: Actor, params: PageParams
) -> Page[ClientCertificate]:
    if actor.institution_id is None:
        raise PermissionDenied()
    return paginate(session, repository.certificates_query(actor.institution_id), params)


def usable_for_institution(session: Session, *, actor: Actor) -> list[ClientCertificate]:
    """The institution's certificates a key can be bound to now (at most 100, newest first)."""
    if actor.institution_id is None:
        return []
    now = utcnow()
    rows = session.scalars(repository.certificates_query(actor.institution_id).limit(100))
    return [c for c in rows if c.status(now) == "valid"]


def bind(session: Session, *, actor: Actor, key_id: int, certificate_id: int | None) -> ApiKey:
    """Bind one of the institution's keys to one of its valid certificates (``None``
    unbinds)."""
    key = repository.api_key_by_id(session, key_id)
    if key is None or key.institution_id != actor.institution_id:
        raise ApiKeyNotFound()
    if not key.is_active:
        raise Conflict("This API key is revoked.")
    cert = None
    if certificate_id is not None:
        cert = repository.certificate_by_id(session, certificate_id)
        if cert is None or cert.institution_id != actor.institution_id:
            raise CertificateNotFound(
                details=[{"field": "certificate_id", "message": "No such client certificate."}]
            )
        status = cert.status(utcnow())
        if status != "valid":
            raise field_error("certificate_id", UNBINDABLE[status], serial=cert.serial)
    if key.client_certificate_id == certificate_id:
        return key
    before = key.client_certificate_id
    key.client_certificate_id = certificate_id
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="apikey.bind_certificate" if cert else "apikey.unbind_certificate",
        target_type="api_key",
        target_id=key.id,
        details={
            "from": before,
            "to": certificate_id,
            "serial": cert.serial if cert else None,
        },
    )
    return key


def set_required(session: Session, *, actor: Actor, required: bool) -> Institution:
    """Require (or stop requiring) a bound client certificate for every key of the
    actor's institution."""
    if actor.institution_id is None:
        raise PermissionDenied()
    inst = repository.institution_by_id(session, actor.institution_id)
    if inst is None:
        raise InstitutionNotFound()
    if inst.require_client_cert != required:
        inst.require_client_cert = required
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="institution.require_client_cert",
            target_type="institution",
            target_id=inst.id,
            details={"required": required},
        )
    return inst


def is_required(session: Session, *, actor: Actor) -> bool:
    inst = repository.institution_by_id(session, actor.institution_id or 0)
    return bool(inst and inst.require_client_cert)


# --- authentication ----------------------------------------------------------------------


def check_key(
    session: Session,
    *,
    key: ApiKey,
    institution: Institution,
    presented: str | None,
    now: datetime,
) -> None:
    """Raise :class:`ClientCertificateRejected` unless the request may use ``key`` with the
    certificate it ``presented`` (a fingerprint, or ``None``)."""
    reason = _refusal(session, key=key, institution=institution, presented=presented, now=now)
    if reason is not None:
        raise ClientCertificateRejected(
            REJECTIONS[reason],
            reason=reason,
            api_key_id=key.id,
            presented=presented or "",
        )


def _refusal(
    session: Session,
    *,
    key: ApiKey,
    institution: Institution,
    presented: str | None,
    now: datetime,
) -> str | None:
    if key.client_certificate_id is None:
        return "unbound" if institution.require_client_cert else None
    if presented is None:
        return "no_certificate"
    cert = repository.certificate_by_id(session, key.client_certificate_id)
    if cert is None or cert.fingerprint != presented:
        return "wrong_certificate"
    status = cert.status(now)
    return None if status == "valid" else status
