"""Write, sign, export and verify the audit chain.

``record`` adds the event to the caller's session, so it commits or rolls back with the
change it describes; it appends to the hash chain under the head row's lock, which the
transaction holds until it ends (so the chain stays linear with any number of writers).
``record_detached`` is for events that must survive the failure of the request they
belong to (a permission denial): it commits on its own session.

Checkpoints sign the chain head with the platform's SM2 key: every hour (a periodic
job) when the head has moved, and on demand. Exports and database verification read the
chain in short pages, one short transaction each: rows up to a head are immutable, so the
pages add up to one consistent chain without holding a long transaction open.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from puhui.audit import chain, repository
from puhui.audit.errors import AuditChainEmpty
from puhui.audit.models import AuditCheckpoint, AuditEvent, AuditSigningKey
from puhui.audit.schemas import AuditFilter, Outcome
from puhui.config import Settings
from puhui.core.db import session_scope
from puhui.core.masking import mask_personal_in
from puhui.core.orm import utcnow
from puhui.core.pagination import Page, PageParams, paginate
from puhui.core.policy import Actor
from puhui.core.security import Sm2PrivateKey, Sm2PublicKey
from puhui.core.security.platform_key import load_signing_key

PAGE_SIZE = 2000


def _plain_json(details: dict[str, Any] | None) -> dict[str, Any] | None:
    """``details`` as it will read back from the database (string keys, lists for tuples),
    so the hash computed now is the hash recomputed later."""
    if details is None:
        return None
    try:
        plain = json.loads(json.dumps(details, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit details must be plain JSON (no NaN, no objects): {exc}") from exc
    return plain  # type: ignore[no-any-return]


def record(
    session: Session,
    *,
    actor: Actor | None,
    action: str,
    target_type: str | None = None,
    target_id: object | None = None,
    outcome: Outcome = "ok",
    ip: str | None = None,
    details: dict[str, Any] | None = None,
    username: str | None = None,
) -> AuditEvent:
    fields: dict[str, Any] = {
        "user_id": actor.user_id if actor else None,
        "username": actor.username if actor else username,
        "role": str(actor.role) if actor else None,
        "institution_id": actor.institution_id if actor else None,
        "api_key_id": actor.api_key_id if actor else None,
        "action": action,
        "target_type": target_type,
        "target_id": None if target_id is None else str(target_id),
        "outcome": outcome,
        "ip": ip if ip is not None else (actor.ip if actor else None),
        # no plaintext ID or mobile number in the permanent record: masked as a page shows them
        "details": mask_personal_in(_plain_json(details)),
        "occurred_at": utcnow(),
    }
    prev_seq, prev_hash = repository.head(session, lock=True)
    seq = prev_seq + 1
    digest = chain.link(prev_hash, chain.record_body({**fields, "seq": seq}))
    event = AuditEvent(**fields, seq=seq, prev_hash=prev_hash, hash=digest)
    session.add(event)
    session.flush()
    repository.advance_head(
        session, from_seq=prev_seq, seq=seq, hash=digest, now=fields["occurred_at"]
    )
    return event


def record_detached(
    factory: sessionmaker[Session],
    *,
    actor: Actor | None,
    action: str,
    target_type: str | None = None,
    target_id: object | None = None,
    outcome: Outcome = "denied",
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    with session_scope(factory) as session:
        record(
            session,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            outcome=outcome,
            ip=ip,
            details=details,
        )


def list_events(session: Session, *, flt: AuditFilter, params: PageParams) -> Page[AuditEvent]:
    return paginate(session, repository.events_query(flt), params)


# --- signing ----------------------------------------------------------------------------------


def platform_key(settings: Settings) -> Sm2PrivateKey:
    """The platform's signing key (generated under the data folder on first use)."""
    return load_signing_key(settings.signing_key_path)


def _register_key(session: Session, public: Sm2PublicKey) -> str:
    key_id = public.fingerprint()
    if repository.get_signing_key(session, key_id) is None:
        try:
            with session.begin_nested():
                session.add(AuditSigningKey(key_id=key_id, public_key_pem=public.to_pem()))
        except IntegrityError:
            pass  # registered by a concurrent checkpoint
    return key_id


def _sign(key: Sm2PrivateKey, *, format: str, seq: int, head_hash: str, at: datetime) -> str:
    message = chain.signed_message(
        format=format,
        seq=seq,
        head_hash=head_hash,
        signed_at=chain.format_time(at),
        key_id=key.public_key().fingerprint(),
    )
    return base64.b64encode(key.sign(message)).decode("ascii")


def checkpoint(session: Session, *, key: Sm2PrivateKey) -> AuditCheckpoint:
    """A signed checkpoint of the current head (the existing one if the head has not
    moved since). Raises :class:`AuditChainEmpty` before the first record."""
    seq, head_hash = repository.head(session)
    if seq == 0:
        raise AuditChainEmpty()
    existing = repository.checkpoint_at(session, seq)
    if existing is not None:
        return existing
    key_id = _register_key(session, key.public_key())
    now = utcnow()
    made = AuditCheckpoint(
        seq=seq,
        head_hash=head_hash,
        signed_at=now,
        key_id=key_id,
        signature=_sign(key, format=chain.CHECKPOINT_FORMAT, seq=seq, head_hash=head_hash, at=now),
    )
    try:
        with session.begin_nested():
            session.add(made)
    except IntegrityError:
        # a concurrent checkpoint of the same head won
        found = repository.checkpoint_at(session, seq)
        if found is None:
            raise
        return found
    return made


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return repository.latest_checkpoint(session)


def head(session: Session) -> tuple[int, str]:
    return repository.head(session)


def public_keys(session: Session, *, key: Sm2PrivateKey) -> dict[str, str]:
    """Every key that signed a checkpoint, and the current one: key id → PEM."""
    current = key.public_key()
    return {**repository.signing_keys(session), current.fingerprint(): current.to_pem()}


def _checkpoint_lines(checkpoints: Iterable[AuditCheckpoint]) -> list[dict[str, Any]]:
    return [
        chain.checkpoint_line(
            seq=cp.seq,
            head_hash=cp.head_hash,
            signed_at=cp.signed_at,
            key_id=cp.key_id,
            signature=cp.signature,
        )
        for cp in checkpoints
    ]


def _record_lines(
    factory: sessionmaker[Session], upto_seq: int, page_size: int
) -> Iterator[dict[str, Any]]:
    after = 0
    while after < upto_seq:
        with factory() as session:
            events = repository.events_page(
                session, after_seq=after, upto_seq=upto_seq, limit=page_size
            )
            lines = [
                chain.record_line(
                    seq=e.seq,
                    prev_hash=e.prev_hash,
                    hash=e.hash,
                    body=chain.record_body(event_fields(e)),
                )
                for e in events
            ]
        if not lines:
            return  # rows missing below the head: the verifier reports them
        yield from lines
        after = lines[-1]["seq"]


def event_fields(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in chain.RECORD_FIELDS}


def export_lines(
    factory: sessionmaker[Session], *, key: Sm2PrivateKey, page_size: int = PAGE_SIZE
) -> Iterator[dict[str, Any]]:
    """The chain as export lines, cut at the head as it is when the export starts."""
    with factory() as session:
        seq, head_hash = repository.head(session)
        keys = public_keys(session, key=key)
        checkpoints = _checkpoint_lines(repository.checkpoints_upto(session, seq))
    now = utcnow()
    yield chain.header_line(exported_at=now, head_seq=seq, head_hash=head_hash, keys=keys)
    yield from checkpoints
    yield from _record_lines(factory, seq, page_size)
    yield chain.end_line(
        seq=seq,
        head_hash=head_hash,
        signed_at=now,
        key_id=key.public_key().fingerprint(),
        signature=_sign(key, format=chain.EXPORT_END_FORMAT, seq=seq, head_hash=head_hash, at=now),
    )


def verify_database(
    factory: sessionmaker[Session],
    *,
    key: Sm2PrivateKey | None,
    trusted: dict[str, Sm2PublicKey] | None = None,
    page_size: int = PAGE_SIZE,
) -> chain.Report:
    """Recompute the whole chain stored in the database against its head row and its
    checkpoints. Signatures are checked with ``trusted`` only when given (keys pinned out
    of band: someone who could rewrite the tables could also list a key of their own),
    else with the keys the database lists; ``key`` (the platform's) is trusted either way."""
    with factory() as session:
        seq, head_hash = repository.head(session)
        pems = repository.signing_keys(session)
        checkpoints = _checkpoint_lines(repository.checkpoints_upto(session, 2**62))
    if trusted is not None:
        keys = dict(trusted)
    else:
        keys = {key_id: Sm2PublicKey.from_pem(pem) for key_id, pem in pems.items()}
    if key is not None:
        keys[key.public_key().fingerprint()] = key.public_key()
    verifier = chain.Verifier(keys, require_signed_end=False)
    for line in checkpoints:
        verifier.feed(line)
    for line in _record_lines(factory, seq, page_size):
        verifier.feed(line)
    verifier.feed(chain.end_line(seq=seq, head_hash=head_hash))
    return verifier.finish()


def verify_file(path: Path, *, keys: dict[str, Sm2PublicKey] | None) -> chain.Report:
    """Check an export file; ``keys`` are the trusted public keys (None: the file's own)."""
    with path.open(encoding="utf-8") as lines:
        return chain.verify_lines(chain.parse_jsonl(lines), keys)
