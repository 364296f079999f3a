from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from puhui.audit import chain, service
from puhui.audit.schemas import (
    AuditEventRead,
    AuditFilter,
    ChainHeadRead,
    CheckpointRead,
    Outcome,
    PublicKeyRead,
    SigningKeyRead,
)
from puhui.core.pagination import PageParams, PageRead, page_read
from puhui.core.policy import Action, Actor
from puhui.core.security import SM2_SIGNER_ID
from puhui.core.web import TxRoute, db, limited_download, page_params, public, require

router = APIRouter(prefix="/api/v1/audit", route_class=TxRoute, tags=["audit"])


@router.get(
    "/events", response_model=PageRead[AuditEventRead], summary="Audit events, newest first"
)
def list_events(
    action: Annotated[str | None, Query(max_length=64, description="Prefix, e.g. `auth.`")] = None,
    outcome: Outcome | None = None,
    username: Annotated[str | None, Query(max_length=64)] = None,
    institution_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.AUDIT_READ),
    session: Session = Depends(db),
) -> PageRead[AuditEventRead]:
    flt = AuditFilter(
        action=action,
        outcome=outcome,
        username=username,
        institution_id=institution_id,
        since=since,
        until=until,
    )
    return page_read(AuditEventRead, service.list_events(session, flt=flt, params=params))


@router.get("/head", response_model=ChainHeadRead, summary="The chain head and its last signature")
def chain_head(
    actor: Actor = require(Action.AUDIT_READ), session: Session = Depends(db)
) -> ChainHeadRead:
    seq, head_hash = service.head(session)
    latest = service.latest_checkpoint(session)
    return ChainHeadRead(
        seq=seq,
        hash=head_hash,
        latest_checkpoint=None if latest is None else CheckpointRead.model_validate(latest),
    )


@router.post(
    "/checkpoints",
    response_model=CheckpointRead,
    status_code=201,
    summary="Sign the chain head now (SM2)",
)
def create_checkpoint(
    request: Request,
    actor: Actor = require(Action.AUDIT_CHECKPOINT),
    session: Session = Depends(db),
) -> CheckpointRead:
    service.record(session, actor=actor, action="audit.checkpoint")
    made = service.checkpoint(session, key=service.platform_key(request.app.state.settings))
    return CheckpointRead.model_validate(made)


@router.get(
    "/public-key",
    response_model=PublicKeyRead,
    summary="The platform's SM2 public key that signs checkpoints and exports",
)
def public_key(
    request: Request, actor: Actor | None = public(), session: Session = Depends(db)
) -> PublicKeyRead:
    key = service.platform_key(request.app.state.settings).public_key()
    keys = service.public_keys(session, key=service.platform_key(request.app.state.settings))
    return PublicKeyRead(
        signer_id=SM2_SIGNER_ID.decode("ascii"),
        key_id=key.fingerprint(),
        public_key_pem=key.to_pem(),
        keys=[SigningKeyRead(key_id=k, public_key_pem=pem) for k, pem in sorted(keys.items())],
    )


@router.get(
    "/export",
    summary="The whole chain with its checkpoints, as JSON Lines (see README: Audit chain)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def export(
    request: Request,
    actor: Actor = require(Action.AUDIT_EXPORT),
    _download: None = limited_download(),
    session: Session = Depends(db),
) -> StreamingResponse:
    service.record(session, actor=actor, action="audit.export")
    key = service.platform_key(request.app.state.settings)
    factory = request.app.state.session_factory

    def body() -> Iterator[bytes]:
        # runs after the request's transaction committed: the export includes its own record
        for line in service.export_lines(factory, key=key):
            yield chain.dumps_line(line).encode("utf-8")

    return StreamingResponse(
        body(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="puhui-audit-chain.jsonl"'},
    )
