"""Pages for operators and data stewards: sources, batches with their quality reports, and
file upload (with an upload progress bar and a live processing status)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from puhui.core.errors import PuhuiError
from puhui.core.i18n import N_
from puhui.core.pagination import PageParams
from puhui.core.policy import Action, Actor
from puhui.core.web import (
    TxRoute,
    db,
    field_messages,
    page_params,
    redirect,
    register_nav,
    render,
    require,
    translate,
    validation_details,
)
from puhui.ingest import service
from puhui.ingest.schemas import SourceCreate

router = APIRouter(route_class=TxRoute, include_in_schema=False)
register_nav(N_("Data batches"), "/ingest", Action.INGEST_READ, order=50)
register_nav(N_("Data sources"), "/ingest/sources", Action.INGEST_READ, order=51)


def _sources(session: Session, actor: Actor) -> list[Any]:
    allowed = service.visible_source_codes(session, actor)
    page = service.list_sources(session, params=PageParams(per_page=100))
    return [s for s in page.items if allowed is None or s.code in allowed]


@router.get("/ingest", response_class=HTMLResponse)
def batches_page(
    request: Request,
    source: Annotated[str, Query(max_length=16)] = "",
    status: Annotated[str, Query(pattern=r"^(|writing|committed|rejected)$")] = "",
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.INGEST_READ),
    session: Session = Depends(db),
) -> HTMLResponse:
    page = service.batches_for(
        session, actor=actor, source_code=source or None, status=status or None, params=params
    )
    sources = _sources(session, actor)
    ctx = {
        "page": page,
        "sources": sources,
        "source": source,
        "status": status,
        "source_codes": {s.id: s.code for s in sources},
        "can_upload": actor.can(Action.INGEST_UPLOAD),
    }
    return render(request, "ingest/batches.html", ctx, actor=actor)


@router.post("/ingest/upload", response_class=HTMLResponse)
def upload(
    request: Request,
    source: Annotated[str, Form(max_length=16)] = "",
    file: Annotated[UploadFile | None, File()] = None,
    actor: Actor = require(Action.INGEST_UPLOAD),
    session: Session = Depends(db),
) -> HTMLResponse:
    try:
        if file is None or not file.filename:
            raise PuhuiError("Choose a file to upload.", code="file_missing", status=422)
        job = service.queue_upload(
            session,
            actor=actor,
            source_code=source,
            filename=file.filename,
            stream=file.file,
            via="web",
            settings=request.app.state.settings,
        )
    except PuhuiError as exc:
        session.rollback()
        message = translate(request, exc.message, **exc.params)
        return render(
            request, "ingest/_upload_status.html", {"error": message}, status_code=422, actor=actor
        )
    return render(request, "ingest/_upload_status.html", {"job": job, "batch": None}, actor=actor)


@router.get("/ingest/uploads/{upload_id}", response_class=HTMLResponse)
def upload_status(
    request: Request,
    upload_id: int,
    actor: Actor = require(Action.INGEST_UPLOAD, obj="upload"),
    session: Session = Depends(db),
) -> HTMLResponse:
    job = service.upload_job(session, actor=actor, job_id=upload_id)
    batch = service.batch_of_job(session, job=job)
    return render(request, "ingest/_upload_status.html", {"job": job, "batch": batch}, actor=actor)


@router.get("/ingest/batches/{batch_id}", response_class=HTMLResponse)
def batch_page(
    request: Request,
    batch_id: int,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.INGEST_READ, obj="batch"),
    session: Session = Depends(db),
) -> HTMLResponse:
    batch = service.batch_for(session, actor=actor, batch_id=batch_id)
    issues = service.batch_issues(session, batch_id=batch.id, params=params)
    locale = request.state.locale if "locale" in request.state._state else None
    messages = {
        r: service.reason_message(locale or request.app.state.settings.default_locale, r)
        for r in list(batch.reasons or {}) + [i.reason for i in issues.items]
    }
    ctx = {
        "batch": batch,
        "issues": issues,
        "messages": messages,
        "source": service.source_code_of(session, batch),
    }
    return render(request, "ingest/batch.html", ctx, actor=actor)


@router.get("/ingest/sources", response_class=HTMLResponse)
def sources_page(
    request: Request, actor: Actor = require(Action.INGEST_READ), session: Session = Depends(db)
) -> HTMLResponse:
    return render(
        request,
        "ingest/sources.html",
        {"sources": _sources(session, actor), "form": {}, "errors": {}},
        actor=actor,
    )


@router.post("/ingest/sources", response_class=HTMLResponse)
def sources_create(
    request: Request,
    code: Annotated[str, Form(max_length=16)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
    department: Annotated[str, Form(max_length=50)] = "",
    level: Annotated[str, Form(max_length=12)] = "",
    schedule: Annotated[str, Form(max_length=12)] = "",
    contact: Annotated[str, Form(max_length=100)] = "",
    actor: Actor = require(Action.SOURCE_MANAGE),
    session: Session = Depends(db),
) -> Response:
    form = {
        "code": code,
        "name": name,
        "department": department,
        "level": level,
        "schedule": schedule,
        "contact": contact,
    }
    try:
        service.create_source(session, actor=actor, data=SourceCreate.model_validate(form))
    except (ValidationError, PuhuiError) as exc:
        session.rollback()
        if isinstance(exc, ValidationError):
            errors = field_messages(request, validation_details(exc.errors()))
        else:
            errors = field_messages(request, exc.details) or {
                "code": translate(request, exc.message)
            }
        return render(
            request,
            "ingest/sources.html",
            {"sources": _sources(session, actor), "form": form, "errors": errors},
            status_code=422,
            actor=actor,
        )
    return redirect("/ingest/sources")
