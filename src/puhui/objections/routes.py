"""Objections over the API: `/api/v1/objections` (raise, list, read, attach, withdraw,
close), `/route` for operators, `/answer` for the department, `/overview` for regulators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from puhui.core.pagination import Page, PageParams, PageRead, page_of
from puhui.core.policy import Action, Actor
from puhui.core.web import (
    TxRoute,
    db,
    file_response,
    limited_download,
    page_params,
    request_locale,
    require,
)
from puhui.objections import service
from puhui.objections.schemas import (
    AttachmentRead,
    ObjectionAnswer,
    ObjectionCreate,
    ObjectionRead,
    ObjectionRoute,
    Overview,
)

router = APIRouter(prefix="/api/v1/objections", route_class=TxRoute, tags=["objections"])


def _one(session: Session, request: Request, actor: Actor, objection: object) -> ObjectionRead:
    (read,) = service.read(session, [objection], locale=request_locale(request), actor=actor)  # type: ignore[list-item]
    return read


@router.post("", status_code=201, response_model=ObjectionRead, summary="Dispute a data item")
def submit(
    request: Request,
    body: ObjectionCreate,
    actor: Actor = require(Action.OBJECTION_RAISE),
    session: Session = Depends(db),
) -> ObjectionRead:
    return _one(session, request, actor, service.submit(session, actor=actor, data=body))


@router.get("", response_model=PageRead[ObjectionRead], summary="Objections I may see")
def list_objections(
    request: Request,
    status: Annotated[str | None, Query(max_length=12)] = None,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.OBJECTION_READ),
    session: Session = Depends(db),
) -> PageRead[ObjectionRead]:
    page = service.list_for(session, actor=actor, status=status, params=params)
    items = service.read(session, page.items, locale=request_locale(request), actor=actor)
    return page_of(Page(items=items, total=page.total, page=page.page, per_page=page.per_page))


@router.get("/overview", response_model=Overview, summary="Every open objection and its age")
def overview(
    request: Request,
    actor: Actor = require(Action.OBJECTION_OVERVIEW),
    session: Session = Depends(db),
) -> Overview:
    return service.overview(session, locale=request_locale(request))


@router.get("/{objection_id}", response_model=ObjectionRead, summary="One objection")
def get_objection(
    request: Request,
    objection_id: int,
    actor: Actor = require(Action.OBJECTION_READ, obj="objection"),
    session: Session = Depends(db),
) -> ObjectionRead:
    return _one(
        session, request, actor, service.get(session, actor=actor, objection_id=objection_id)
    )


@router.post(
    "/{objection_id}/attachments",
    status_code=201,
    response_model=AttachmentRead,
    summary="Attach a PDF, JPG or PNG (at most 5 MB)",
)
def attach(
    objection_id: int,
    file: Annotated[UploadFile | None, File()] = None,
    actor: Actor = require(Action.OBJECTION_RAISE, obj="objection"),
    session: Session = Depends(db),
) -> AttachmentRead:
    # the file is optional here so that the objection is checked first (another's
    # objection is "not found" whatever was sent); the service names a missing file
    content = b"" if file is None else file.file.read(service.MAX_ATTACHMENT_BYTES + 1)
    row = service.add_attachment(
        session,
        actor=actor,
        objection_id=objection_id,
        filename=(file.filename if file is not None else None) or "file",
        content=content,
    )
    return AttachmentRead.model_validate(row)


@router.get(
    "/{objection_id}/attachments/{attachment_id}",
    summary="An attachment (the parties of the objection only)",
)
def attachment(
    objection_id: int,
    attachment_id: int,
    actor: Actor = require(Action.OBJECTION_READ, obj="objection"),
    _download: None = limited_download(),
    session: Session = Depends(db),
) -> Response:
    row, content = service.attachment_file(
        session, actor=actor, objection_id=objection_id, attachment_id=attachment_id
    )
    return file_response(content, media_type=row.content_type, filename=row.filename)


@router.post("/{objection_id}/withdraw", response_model=ObjectionRead, summary="Withdraw")
def withdraw(
    request: Request,
    objection_id: int,
    actor: Actor = require(Action.OBJECTION_RAISE, obj="objection"),
    session: Session = Depends(db),
) -> ObjectionRead:
    objection = service.withdraw(session, actor=actor, objection_id=objection_id)
    return _one(session, request, actor, objection)


@router.post("/{objection_id}/close", response_model=ObjectionRead, summary="Accept the answer")
def close(
    request: Request,
    objection_id: int,
    actor: Actor = require(Action.OBJECTION_RAISE, obj="objection"),
    session: Session = Depends(db),
) -> ObjectionRead:
    objection = service.close(session, actor=actor, objection_id=objection_id)
    return _one(session, request, actor, objection)


@router.post(
    "/{objection_id}/route", response_model=ObjectionRead, summary="Send to the source department"
)
def route(
    request: Request,
    objection_id: int,
    body: ObjectionRoute,
    actor: Actor = require(Action.OBJECTION_ROUTE, obj="objection"),
    session: Session = Depends(db),
) -> ObjectionRead:
    objection = service.route(session, actor=actor, objection_id=objection_id, data=body)
    return _one(session, request, actor, objection)


@router.post("/{objection_id}/answer", response_model=ObjectionRead, summary="Answer in writing")
def answer(
    request: Request,
    objection_id: int,
    body: ObjectionAnswer,
    actor: Actor = require(Action.OBJECTION_ANSWER, obj="objection"),
    session: Session = Depends(db),
) -> ObjectionRead:
    objection = service.answer(session, actor=actor, objection_id=objection_id, data=body)
    return _one(session, request, actor, objection)
