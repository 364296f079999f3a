"""Scoring over the API: models and versions (`/api/v1/models`, `/api/v1/model-versions`),
training on an uploaded labelled sample, approval, exports, stability, batch leads, and
`POST /api/v1/models/{model_id}/scores` for core-banking systems."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.orm import Session

from puhui.core.policy import Action, Actor
from puhui.core.web import TxRoute, db, limited_download, require
from puhui.scoring import service
from puhui.scoring.errors import NoBaseline
from puhui.scoring.schemas import (
    BatchRunRead,
    LeadPage,
    ModelCreate,
    ModelRead,
    PsiReport,
    ScorecardCreate,
    ScoreRequest,
    ScoreResponse,
    TrainingRunRead,
    VersionDecision,
    VersionRead,
)

router = APIRouter(prefix="/api/v1", route_class=TxRoute, tags=["scoring"])
MAX_UPLOAD = 20 * 1024 * 1024


def version_read(v: Any) -> VersionRead:
    return VersionRead(
        id=v.id,
        model_id=v.model_id,
        number=v.number,
        source=v.source,
        status=v.status,
        features=[f["indicator"] for f in v.definition.get("features", [])],
        metrics={
            k: v.metrics[k]
            for k in ("auc", "ks", "gini", "train_auc", "n_train", "n_holdout")
            if k in v.metrics
        }
        if v.metrics
        else None,
        created_at=v.created_at,
        created_by=v.created_by,
        submitted_by=v.submitted_by,
        submitted_at=v.submitted_at,
        decided_by=v.decided_by,
        decided_at=v.decided_at,
        decision_note=v.decision_note,
    )


def run_read(r: Any) -> TrainingRunRead:
    return TrainingRunRead.model_validate(r, from_attributes=True)


@router.get("/models", response_model=list[ModelRead], summary="My institution's scoring models")
def list_models(
    actor: Actor = require(Action.MODEL_READ), session: Session = Depends(db)
) -> list[ModelRead]:
    return service.list_models(session, actor=actor)


@router.post("/models", response_model=ModelRead, status_code=201, summary="Create a model")
def create_model(
    body: ModelCreate, actor: Actor = require(Action.MODEL_MANAGE), session: Session = Depends(db)
) -> ModelRead:
    m = service.create_model(session, actor=actor, data=body)
    return ModelRead(id=m.id, name=m.name, description=m.description, created_at=m.created_at)


@router.get(
    "/models/{model_id}/versions",
    response_model=list[VersionRead],
    summary="A model's versions, newest first",
)
def list_versions(
    model_id: int,
    actor: Actor = require(Action.MODEL_READ, obj="model"),
    session: Session = Depends(db),
) -> list[VersionRead]:
    return [version_read(v) for v in service.versions(session, actor=actor, model_id=model_id)]


@router.post(
    "/models/{model_id}/versions",
    response_model=VersionRead,
    status_code=201,
    summary="Add a draft version from a scorecard written as JSON "
    "(422 lists every fault by its path)",
)
def add_version(
    model_id: int,
    body: ScorecardCreate,
    actor: Actor = require(Action.MODEL_MANAGE, obj="model"),
    session: Session = Depends(db),
) -> VersionRead:
    return version_read(
        service.add_scorecard(session, actor=actor, model_id=model_id, definition=body.definition)
    )


@router.post(
    "/models/{model_id}/training",
    response_model=TrainingRunRead,
    status_code=202,
    summary="Upload a labelled sample (USCC + good/bad outcome; CSV, XLSX or JSON); "
    "a job trains a draft version",
)
def train(
    model_id: int,
    file: Annotated[UploadFile | None, File()] = None,
    features: Annotated[str, Form(max_length=2000)] = "",
    actor: Actor = require(Action.MODEL_MANAGE, obj="model"),
    session: Session = Depends(db),
) -> TrainingRunRead:
    content = file.file.read(MAX_UPLOAD + 1) if file is not None else None
    codes = [c.strip() for c in features.replace(",", " ").split() if c.strip()]
    run = service.start_training(
        session,
        actor=actor,
        model_id=model_id,
        filename=(file.filename if file else None) or "sample.csv",
        content=content,
        features=codes,
    )
    return run_read(run)


@router.get(
    "/models/{model_id}/training",
    response_model=list[TrainingRunRead],
    summary="Training runs and their status",
)
def training_runs(
    model_id: int,
    actor: Actor = require(Action.MODEL_READ, obj="model"),
    session: Session = Depends(db),
) -> list[TrainingRunRead]:
    return [run_read(r) for r in service.training_runs(session, actor=actor, model_id=model_id)]


@router.post(
    "/models/{model_id}/scores",
    response_model=ScoreResponse,
    summary="Score entities that authorized my institution (purpose decision or query) with the "
    "model's newest approved version (or `version_id`); each other USCC is refused with its reason",
)
def score(
    model_id: int,
    body: ScoreRequest,
    version_id: Annotated[int | None, Query()] = None,
    actor: Actor = require(Action.MODEL_SCORE, obj="model"),
    session: Session = Depends(db),
) -> ScoreResponse:
    chosen = service.scoring_version(session, actor=actor, model_id=model_id, version_id=version_id)
    return service.score_many(
        session,
        version_id=chosen,
        institution_id=actor.institution_id or 0,
        usccs=body.usccs,
        purpose=body.purpose,
        actor=actor,
    )


@router.get(
    "/model-versions/{version_id}", summary="A version: its scorecard, metrics and binning tables"
)
def get_version(
    version_id: int,
    actor: Actor = require(Action.MODEL_READ, obj="model_version"),
    session: Session = Depends(db),
) -> dict[str, Any]:
    v, _ = service.get_version(session, actor=actor, version_id=version_id)
    return {
        **version_read(v).model_dump(mode="json"),
        "scorecard": v.definition,
        "metrics": v.metrics,
        "binning": v.binning,
    }


def _change(change: str, action: Action) -> Any:
    def endpoint(
        version_id: int,
        body: VersionDecision | None = None,
        actor: Actor = require(action, obj="model_version"),
        session: Session = Depends(db),
    ) -> VersionRead:
        note = body.note if body else ""
        return version_read(
            service.change_state(
                session, actor=actor, version_id=version_id, change=change, note=note
            )
        )

    endpoint.__name__ = f"{change}_version"
    return endpoint


router.add_api_route(
    "/model-versions/{version_id}/submit",
    _change("submit", Action.MODEL_MANAGE),
    methods=["POST"],
    response_model=VersionRead,
    summary="Submit a draft for approval (maker)",
)
router.add_api_route(
    "/model-versions/{version_id}/approve",
    _change("approve", Action.MODEL_APPROVE),
    methods=["POST"],
    response_model=VersionRead,
    summary="Approve a submitted version (checker: another user of the institution)",
)
router.add_api_route(
    "/model-versions/{version_id}/reject",
    _change("reject", Action.MODEL_APPROVE),
    methods=["POST"],
    response_model=VersionRead,
    summary="Reject a submitted version (checker)",
)
router.add_api_route(
    "/model-versions/{version_id}/retire",
    _change("retire", Action.MODEL_APPROVE),
    methods=["POST"],
    response_model=VersionRead,
    summary="Retire an approved version",
)


@router.get("/model-versions/{version_id}/export.json", summary="The scorecard as JSON")
def export_json(
    version_id: int,
    actor: Actor = require(Action.MODEL_MANAGE, obj="model_version"),
    _download: None = limited_download(),
    session: Session = Depends(db),
) -> dict[str, Any]:
    return service.export_json(session, actor=actor, version_id=version_id)


@router.get(
    "/model-versions/{version_id}/export.sql",
    response_class=PlainTextResponse,
    summary="The score as one SQL CASE expression",
)
def export_sql(
    version_id: int,
    actor: Actor = require(Action.MODEL_MANAGE, obj="model_version"),
    _download: None = limited_download(),
    session: Session = Depends(db),
) -> PlainTextResponse:
    return PlainTextResponse(
        service.export_sql(session, actor=actor, version_id=version_id),
        media_type="text/plain; charset=utf-8",
    )


@router.get(
    "/model-versions/{version_id}/psi",
    response_model=PsiReport,
    summary="Stability: today's population against the baseline",
)
def psi(
    version_id: int,
    actor: Actor = require(Action.MODEL_READ, obj="model_version"),
    session: Session = Depends(db),
) -> PsiReport:
    report = service.psi_report(session, actor=actor, version_id=version_id)
    if report is None:
        raise NoBaseline()
    return report


@router.post(
    "/model-versions/{version_id}/batch",
    response_model=BatchRunRead,
    status_code=202,
    summary="Score the whole population with an approved version (a job)",
)
def start_batch(
    version_id: int,
    actor: Actor = require(Action.MODEL_MANAGE, obj="model_version"),
    session: Session = Depends(db),
) -> BatchRunRead:
    return BatchRunRead.model_validate(
        service.start_batch(session, actor=actor, version_id=version_id), from_attributes=True
    )


@router.get(
    "/model-versions/{version_id}/batch",
    response_model=list[BatchRunRead],
    summary="Batch runs of a version",
)
def batch_runs(
    version_id: int,
    actor: Actor = require(Action.MODEL_READ, obj="model_version"),
    session: Session = Depends(db),
) -> list[BatchRunRead]:
    return [
        BatchRunRead.model_validate(r, from_attributes=True)
        for r in service.batch_runs(session, actor=actor, version_id=version_id)
    ]


@router.get(
    "/model-versions/{version_id}/leads",
    response_model=LeadPage,
    summary="Ranked leads of the latest batch run (opted-out entities excluded)",
)
def leads(
    version_id: int,
    offset: Annotated[int, Query(ge=0, le=2_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    actor: Actor = require(Action.MODEL_READ, obj="model_version"),
    session: Session = Depends(db),
) -> LeadPage:
    return service.leads(session, actor=actor, version_id=version_id, offset=offset, limit=limit)


@router.get(
    "/model-versions/{version_id}/leads.{fmt}", summary="Download the top leads as CSV or XLSX"
)
def leads_file(
    request: Request,
    version_id: int,
    fmt: str,
    limit: Annotated[int, Query(ge=1, le=service.MAX_DOWNLOAD)] = 10_000,
    actor: Actor = require(Action.MODEL_READ, obj="model_version"),
    _download: None = limited_download(),
    session: Session = Depends(db),
) -> Response:
    name, media, content = service.leads_file(
        session, actor=actor, version_id=version_id, fmt=fmt, limit=limit
    )
    return Response(
        content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
