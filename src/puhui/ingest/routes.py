"""Ingestion API: sources, batches with their quality reports, and file push for data
sources (multipart, typically with an institution's API key)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from puhui.core.errors import NotFound
from puhui.core.pagination import PageParams, PageRead, page_read
from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, limited_download, page_params, require
from puhui.ingest import service
from puhui.ingest.schemas import BatchRead, IssueRead, SourceCreate, SourceRead, UploadRead

router = APIRouter(prefix="/api/v1/ingest", route_class=TxRoute, tags=["ingest"])
Status = Literal["writing", "committed", "rejected"]


@router.get("/sources", response_model=PageRead[SourceRead], summary="Registered data sources")
def list_sources(
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.INGEST_READ),
    session: Session = Depends(db),
) -> PageRead[SourceRead]:
    return page_read(SourceRead, service.list_sources(session, params=params))


@router.post(
    "/sources", status_code=201, response_model=SourceRead, summary="Register a data source"
)
def create_source(
    body: SourceCreate, actor: Actor = require(Action.SOURCE_MANAGE), session: Session = Depends(db)
) -> SourceRead:
    return SourceRead.model_validate(service.create_source(session, actor=actor, data=body))


@router.get("/batches", response_model=PageRead[BatchRead], summary="Batches, newest first")
def list_batches(
    source: Annotated[str | None, Query(max_length=16)] = None,
    status: Status | None = None,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.INGEST_READ),
    session: Session = Depends(db),
) -> PageRead[BatchRead]:
    page = service.batches_for(
        session,
        actor=actor,
        source_code=source.upper() if source else None,
        status=status,
        params=params,
    )
    return page_read(BatchRead, page)


@router.post(
    "/batches",
    status_code=202,
    response_model=UploadRead,
    summary="Push a file (CSV, XLSX, JSON Lines or Parquet); it is validated and loaded by a job",
)
def push_batch(
    request: Request,
    source: Annotated[str, Form(max_length=16)],
    file: Annotated[UploadFile, File()],
    actor: Actor = require(Action.INGEST_UPLOAD),
    session: Session = Depends(db),
) -> UploadRead:
    job = service.queue_upload(
        session,
        actor=actor,
        source_code=source,
        filename=file.filename or "upload",
        stream=file.file,
        via="api",
        settings=request.app.state.settings,
    )
    return UploadRead(job_id=job.id, status=job.status, batch_id=None)


@router.get("/uploads/{upload_id}", response_model=UploadRead, summary="Where a pushed file stands")
def upload_status(
    upload_id: int,
    actor: Actor = require(Action.INGEST_UPLOAD, obj="upload"),
    session: Session = Depends(db),
) -> UploadRead:
    job = service.upload_job(session, actor=actor, job_id=upload_id)
    batch = service.batch_of_job(session, job=job)
    return UploadRead(job_id=job.id, status=job.status, batch_id=batch.id if batch else None)


@router.get(
    "/batches/{batch_id}", response_model=BatchRead, summary="One batch and its quality report"
)
def get_batch(
    batch_id: int,
    actor: Actor = require(Action.INGEST_READ, obj="batch"),
    session: Session = Depends(db),
) -> BatchRead:
    return BatchRead.model_validate(service.batch_for(session, actor=actor, batch_id=batch_id))


@router.get(
    "/batches/{batch_id}/issues",
    response_model=PageRead[IssueRead],
    summary="Rejected and warned rows",
)
def batch_issues(
    batch_id: int,
    params: PageParams = Depends(page_params),
    actor: Actor = require(Action.INGEST_READ, obj="batch"),
    session: Session = Depends(db),
) -> PageRead[IssueRead]:
    service.batch_for(session, actor=actor, batch_id=batch_id)
    return page_read(IssueRead, service.batch_issues(session, batch_id=batch_id, params=params))


@router.get("/batches/{batch_id}/report.csv", summary="Every issue of the batch as CSV")
def batch_report(
    request: Request,
    batch_id: int,
    actor: Actor = require(Action.INGEST_READ, obj="batch"),
    session: Session = Depends(db),
    _: None = limited_download(),
) -> FileResponse:
    batch = service.batch_for(session, actor=actor, batch_id=batch_id)
    path = service.report_path(request.app.state.settings, batch.id)
    if not path.exists():
        raise NotFound("This batch has no quality report.")
    return FileResponse(
        path, media_type="text/csv; charset=utf-8", filename=f"batch-{batch.id}-issues.csv"
    )
