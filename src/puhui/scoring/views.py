"""Pages: models (`/models`), one model with its versions and training runs, one version
(metrics, ROC, binning tables, approval, exports, batch scoring), its stability report
and its ranked leads."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from puhui.core.errors import PuhuiError
from puhui.core.i18n import N_
from puhui.core.policy import LENDING_KINDS, Action, Actor, Role
from puhui.core.web import (
    TxRoute,
    db,
    limited_download,
    redirect,
    register_nav,
    render,
    require,
    translate,
    validation_details,
)
from puhui.scoring import service
from puhui.scoring.errors import InvalidSample, InvalidScorecard
from puhui.scoring.models import APPROVED, DRAFT, PENDING, QUEUED, RUNNING
from puhui.scoring.schemas import ModelCreate

router = APIRouter(route_class=TxRoute, include_in_schema=False)
register_nav(N_("Models"), "/models", Action.MODEL_READ, order=54)
PER_PAGE = 20
MAX_UPLOAD = 20 * 1024 * 1024
EXAMPLE = {
    "base_points": 600,
    "features": [
        {
            "indicator": "OPR_TAX_TOTAL_12M",
            "kind": "numeric",
            "bins": [
                {"lo": None, "hi": 50000, "points": -25, "reason": "LOW_TAX"},
                {"lo": 50000, "hi": 500000, "points": 5},
                {"lo": 500000, "hi": None, "points": 30},
            ],
            "missing": {"points": -40, "reason": "NO_TAX"},
        },
        {
            "indicator": "NEG_RECORDS_TOTAL",
            "kind": "numeric",
            "bins": [
                {"lo": None, "hi": 1, "points": 20},
                {"lo": 1, "hi": None, "points": -45, "reason": "NEGATIVE"},
            ],
            "missing": {"points": 0},
        },
    ],
    "cutoffs": [{"label": "approve", "min_score": 620}, {"label": "review", "min_score": 580}],
    "reasons": {
        "LOW_TAX": "Low tax paid in the last 12 months",
        "NO_TAX": "No tax record",
        "NEGATIVE": "Negative records",
    },
}


def _messages(request: Request, exc: PuhuiError) -> list[str]:
    details = exc.details if isinstance(exc.details, list) else []
    out = [
        (f"{d['field']}: " if d.get("field") else "")
        + translate(request, d["message"], **d.get("params", {}))
        for d in details
    ]
    return out or [translate(request, exc.message, **exc.params)]


@router.get("/models", response_class=HTMLResponse)
def models_page(
    request: Request, actor: Actor = require(Action.MODEL_READ), session: Session = Depends(db)
) -> HTMLResponse:
    lender = actor.institution_kind in LENDING_KINDS
    items = service.list_models(session, actor=actor) if lender else []
    ctx = {
        "models": items,
        "errors": [],
        "can_manage": lender and actor.can(Action.MODEL_MANAGE),
        "lender": lender,
    }
    return render(request, "scoring/models.html", ctx, actor=actor)


@router.post("/models", response_class=HTMLResponse)
def create_model(
    request: Request,
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=1000)] = "",
    actor: Actor = require(Action.MODEL_MANAGE),
    session: Session = Depends(db),
) -> Response:
    try:
        model = service.create_model(
            session, actor=actor, data=ModelCreate(name=name, description=description)
        )
    except ValidationError as exc:
        errors = [
            f"{d['field']}: {translate(request, d['message'], **d.get('params', {}))}"
            for d in validation_details(exc.errors())
        ]
    except PuhuiError as exc:
        if exc.status != 422:
            raise
        errors = _messages(request, exc)
    else:
        return redirect(f"/models/{model.id}")
    items = service.list_models(session, actor=actor)
    ctx = {"models": items, "errors": errors, "can_manage": True, "lender": True}
    return render(request, "scoring/models.html", ctx, status_code=422, actor=actor)


def _model_context(session: Session, actor: Actor, model_id: int, **extra: Any) -> dict[str, Any]:
    model = service.get_model(session, actor=actor, model_id=model_id)
    runs = service.training_runs(session, actor=actor, model_id=model_id)
    ctx = {
        "model": model,
        "versions": service.versions(session, actor=actor, model_id=model_id),
        "runs": runs,
        "busy": any(r.status in (QUEUED, RUNNING) for r in runs),
        "indicators": service.trainable(session),
        "example": json.dumps(EXAMPLE, ensure_ascii=False, indent=2),
        "definition": "",
        "card_errors": [],
        "sample_errors": [],
        "can_manage": actor.can(Action.MODEL_MANAGE),
    }
    ctx.update(extra)
    return ctx


def _run_error(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {"message": raw, "params": {}}
    return data if isinstance(data, dict) else {"message": raw, "params": {}}


@router.get("/models/{model_id}", response_class=HTMLResponse)
def model_page(
    request: Request,
    model_id: int,
    actor: Actor = require(Action.MODEL_READ, obj="model"),
    session: Session = Depends(db),
) -> HTMLResponse:
    ctx = _model_context(session, actor, model_id, run_error=_run_error)
    return render(request, "scoring/model.html", ctx, actor=actor)


@router.post("/models/{model_id}/versions", response_class=HTMLResponse)
def add_version(
    request: Request,
    model_id: int,
    definition: Annotated[str, Form(max_length=200_000)] = "",
    actor: Actor = require(Action.MODEL_MANAGE, obj="model"),
    session: Session = Depends(db),
) -> Response:
    try:
        data = json.loads(definition)
    except ValueError as exc:
        errors = [
            translate(request, N_("The scorecard is not valid JSON: {error}"), error=str(exc))
        ]
    else:
        try:
            version = service.add_scorecard(
                session, actor=actor, model_id=model_id, definition=data
            )
        except InvalidScorecard as exc:
            errors = _messages(request, exc)
        else:
            return redirect(f"/model-versions/{version.id}")
    ctx = _model_context(
        session, actor, model_id, definition=definition, card_errors=errors, run_error=_run_error
    )
    return render(request, "scoring/model.html", ctx, status_code=422, actor=actor)


@router.post("/models/{model_id}/training", response_class=HTMLResponse)
def train(
    request: Request,
    model_id: int,
    file: Annotated[UploadFile | None, File()] = None,
    features: Annotated[list[str], Form(max_length=60)] = [],  # noqa: B006
    actor: Actor = require(Action.MODEL_MANAGE, obj="model"),
    session: Session = Depends(db),
) -> Response:
    content = file.file.read(MAX_UPLOAD + 1) if file is not None else None
    try:
        service.start_training(
            session,
            actor=actor,
            model_id=model_id,
            filename=(file.filename if file else None) or "sample.csv",
            content=content,
            features=[f for f in features if f],
        )
    except (InvalidSample, PuhuiError) as exc:
        if exc.status != 422:
            raise
        ctx = _model_context(
            session, actor, model_id, sample_errors=_messages(request, exc), run_error=_run_error
        )
        return render(request, "scoring/model.html", ctx, status_code=422, actor=actor)
    return redirect(f"/models/{model_id}")


@router.get("/model-versions/{version_id}", response_class=HTMLResponse)
def version_page(
    request: Request,
    version_id: int,
    actor: Actor = require(Action.MODEL_READ, obj="model_version"),
    session: Session = Depends(db),
) -> HTMLResponse:
    version, model = service.get_version(session, actor=actor, version_id=version_id)
    runs = service.batch_runs(session, actor=actor, version_id=version_id)
    ctx = {
        "v": version,
        "model": model,
        "card": service.scorecard_of(version),
        "definition": json.dumps(version.definition, ensure_ascii=False, indent=2),
        "runs": runs,
        "busy": any(r.status in (QUEUED, RUNNING) for r in runs),
        "can_submit": version.status == DRAFT and actor.role is Role.RISK_MANAGER,
        "can_decide": version.status == PENDING
        and actor.can(Action.MODEL_APPROVE)
        and actor.user_id not in (version.created_by, version.submitted_by),
        "can_retire": version.status == APPROVED and actor.can(Action.MODEL_APPROVE),
        "can_manage": actor.can(Action.MODEL_MANAGE),
        "approved": version.status == APPROVED,
        "run_error": _run_error,
        "roc": (version.metrics or {}).get("roc"),
    }
    return render(request, "scoring/version.html", ctx, actor=actor)


def _change(change: str, action: Action) -> Any:
    def endpoint(
        version_id: int,
        note: Annotated[str, Form(max_length=300)] = "",
        actor: Actor = require(action, obj="model_version"),
        session: Session = Depends(db),
    ) -> Response:
        service.change_state(
            session, actor=actor, version_id=version_id, change=change, note=note.strip()
        )
        return redirect(f"/model-versions/{version_id}")

    endpoint.__name__ = f"{change}_version_page"
    return endpoint


for _name, _action in (
    ("submit", Action.MODEL_MANAGE),
    ("approve", Action.MODEL_APPROVE),
    ("reject", Action.MODEL_APPROVE),
    ("retire", Action.MODEL_APPROVE),
):
    router.add_api_route(
        f"/model-versions/{{version_id}}/{_name}",
        _change(_name, _action),
        methods=["POST"],
        response_class=HTMLResponse,
    )


@router.post("/model-versions/{version_id}/batch", response_class=HTMLResponse)
def start_batch(
    version_id: int,
    actor: Actor = require(Action.MODEL_MANAGE, obj="model_version"),
    session: Session = Depends(db),
) -> Response:
    service.start_batch(session, actor=actor, version_id=version_id)
    return redirect(f"/model-versions/{version_id}")


@router.get("/model-versions/{version_id}/scorecard.json")
def export_json(
    version_id: int,
    actor: Actor = require(Action.MODEL_MANAGE, obj="model_version"),
    _download: None = limited_download(),
    session: Session = Depends(db),
) -> Response:
    data = service.export_json(session, actor=actor, version_id=version_id)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    name = f"scorecard-{version_id}.json"
    return Response(
        body.encode("utf-8"),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/model-versions/{version_id}/scorecard.sql")
def export_sql(
    version_id: int,
    actor: Actor = require(Action.MODEL_MANAGE, obj="model_version"),
    _download: None = limited_download(),
    session: Session = Depends(db),
) -> Response:
    text = service.export_sql(session, actor=actor, version_id=version_id)
    return PlainTextResponse(
        text,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="scorecard-{version_id}.sql"'},
    )


@router.get("/model-versions/{version_id}/psi", response_class=HTMLResponse)
def psi_page(
    request: Request,
    version_id: int,
    actor: Actor = require(Action.MODEL_READ, obj="model_version"),
    session: Session = Depends(db),
) -> HTMLResponse:
    version, model = service.get_version(session, actor=actor, version_id=version_id)
    report = service.psi_report(session, actor=actor, version_id=version_id)
    ctx = {"v": version, "model": model, "report": report}
    return render(request, "scoring/psi.html", ctx, actor=actor)


@router.get("/model-versions/{version_id}/leads", response_class=HTMLResponse)
def leads_page(
    request: Request,
    version_id: int,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    actor: Actor = require(Action.MODEL_READ, obj="model_version"),
    session: Session = Depends(db),
) -> HTMLResponse:
    version, model = service.get_version(session, actor=actor, version_id=version_id)
    result = None
    if service.has_leads(session, version_id=version.id):
        result = service.leads(
            session,
            actor=actor,
            version_id=version_id,
            offset=(page - 1) * PER_PAGE,
            limit=PER_PAGE,
        )
    pages = 0 if result is None else max(1, -(-result.total // PER_PAGE))
    card = service.scorecard_of(version)
    ctx = {
        "v": version,
        "model": model,
        "result": result,
        "page": page,
        "pages": pages,
        "reasons": card.reasons,
    }
    return render(request, "scoring/leads.html", ctx, actor=actor)


@router.get("/model-versions/{version_id}/leads.{fmt}")
def leads_file(
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
