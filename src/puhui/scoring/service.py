"""Bank models (建模获客): scorecards written as JSON or trained inside the platform from a
labelled sample, versioned with a maker/checker approval, exported as JSON or one SQL
``CASE``, scoring the whole population into ranked leads and, through the API, the
entities that authorized the bank.

Invariants
- Every model, version and run belongs to one lending institution; another institution's
  id answers 404. A version's scorecard never changes after it is written.
- Version states: draft → pending (submit, by a risk manager) → approved | rejected
  (by a *different* user of the same institution: a risk manager or the institution
  admin); approved → retired. Only an approved version scores (``approved_version``).
- Training reads the snapshot's key indicators of the sample's entities inside a job;
  only aggregates (metrics, binning tables) are shown: the bank never sees the features.
- Scoring named entities (``score_usccs``) needs, per USCC, a live authorization of the
  institution for purpose ``decision`` or ``query`` covering the categories of the card's
  indicators; each scored entity gets a query record, and every call one audit event.
- Batch scoring runs in a job over the memory-mapped snapshot (numpy, no entity as a
  Python object) and writes a ranked file; entities that opted out of marketing are
  excluded when the file is written and again when it is read.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from puhui.acquisition import service as acquisition
from puhui.audit import service as audit
from puhui.config import Settings, get_settings
from puhui.consent import service as consent
from puhui.consent.errors import ConsentRequired
from puhui.core import jobs
from puhui.core.errors import PermissionDenied, field_error
from puhui.core.i18n import N_
from puhui.core.orm import utcnow
from puhui.core.policy import LENDING_KINDS, Actor, Role
from puhui.core.snapshot import SnapshotView
from puhui.entities import service as entities
from puhui.entities.errors import EntityNotFound
from puhui.scoring import repository, samples, training
from puhui.scoring.errors import (
    InvalidSample,
    InvalidScorecard,
    ModelNotFound,
    NoApprovedVersion,
    NoBatchRun,
    NoSnapshot,
    NotApproved,
    SameMaker,
    VersionNotFound,
    VersionStateConflict,
)
from puhui.scoring.models import (
    APPROVED,
    DONE,
    DRAFT,
    FAILED,
    PENDING,
    QUEUED,
    REJECTED,
    RETIRED,
    RUNNING,
    BatchRun,
    ModelVersion,
    ScoringModel,
    TrainingRun,
)
from puhui.scoring.schemas import (
    SCORE_PURPOSES,
    Lead,
    LeadPage,
    ModelCreate,
    ModelRead,
    PsiFeature,
    PsiReport,
    PsiRow,
    ScoreItem,
    ScoreResponse,
)
from puhui.scoring.scorecard import Scorecard

__all__ = [
    "ScoreResult",
    "approved_version",
    "score_usccs",
]

log = logging.getLogger(__name__)

TRAIN_JOB = "scoring.train"
BATCH_JOB = "scoring.batch"
# (state, change) -> new state: the whole approval machine
TRANSITIONS: dict[tuple[str, str], str] = {
    (DRAFT, "submit"): PENDING,
    (PENDING, "approve"): APPROVED,
    (PENDING, "reject"): REJECTED,
    (APPROVED, "retire"): RETIRED,
}
NUMERIC_TYPES = ("amount", "ratio", "count", "flag")
CATEGORICAL_TYPES = ("grade", "code", "flag")
FLAG_VALUES = ("0", "1")
MAX_DOWNLOAD = 100_000


@dataclass(frozen=True)
class ScoreResult:
    uscc: str
    entity_id: int
    score: float
    reasons: list[str]


# --- who may -----------------------------------------------------------------------------------


def _institution(actor: Actor) -> int:
    if actor.institution_id is None or actor.institution_kind not in LENDING_KINDS:
        raise PermissionDenied(N_("Only staff of lending institutions have scoring models."))
    return actor.institution_id


def _own_model(session: Session, actor: Actor, model_id: int) -> ScoringModel:
    found = repository.model(session, model_id)
    if found is None or found.institution_id != _institution(actor):
        raise ModelNotFound()
    return found


def _own_version(
    session: Session, actor: Actor, version_id: int
) -> tuple[ModelVersion, ScoringModel]:
    found = repository.version_with_model(session, version_id)
    if found is None or found[1].institution_id != _institution(actor):
        raise VersionNotFound()
    return found


# --- models and versions -----------------------------------------------------------------------


def create_model(session: Session, *, actor: Actor, data: ModelCreate) -> ScoringModel:
    institution_id = _institution(actor)
    if repository.model_by_name(session, institution_id, data.name) is not None:
        raise field_error(
            "name", N_("Your institution already has a model named {name}."), name=data.name
        )
    model = ScoringModel(
        institution_id=institution_id,
        name=data.name,
        description=data.description,
        created_by=actor.user_id,
    )
    repository.add(session, model)
    audit.record(
        session, actor=actor, action="scoring.model_create", target_type="model", target_id=model.id
    )
    return model


def list_models(session: Session, *, actor: Actor) -> list[ModelRead]:
    models = repository.models_of(session, _institution(actor))
    counts = repository.version_counts(session, [m.id for m in models])
    return [
        ModelRead(
            id=m.id,
            name=m.name,
            description=m.description,
            created_at=m.created_at,
            versions=counts[m.id][0],
            approved=counts[m.id][1],
        )
        for m in models
    ]


def get_model(session: Session, *, actor: Actor, model_id: int) -> ScoringModel:
    return _own_model(session, actor, model_id)


def versions(session: Session, *, actor: Actor, model_id: int) -> list[ModelVersion]:
    return repository.versions_of(session, _own_model(session, actor, model_id).id)


def get_version(
    session: Session, *, actor: Actor, version_id: int
) -> tuple[ModelVersion, ScoringModel]:
    return _own_version(session, actor, version_id)


def scorecard_of(version: ModelVersion) -> Scorecard:
    return Scorecard.from_json(version.definition)


def check_features(card: Scorecard, specs: Mapping[str, acquisition.KeySpec]) -> None:
    """Every indicator a card uses is a key indicator of a kind that fits, and every code
    value it names is one of the indicator's values."""
    problems: list[dict[str, Any]] = []
    for i, f in enumerate(card.feature_specs):
        spec = specs.get(f.indicator)
        path = f"features.{i}"
        if spec is None:
            problems.append(
                _problem(
                    f"{path}.indicator",
                    N_("{indicator} is not one of the 50 key indicators."),
                    indicator=f.indicator,
                )
            )
            continue
        fits = NUMERIC_TYPES if f.kind == "numeric" else CATEGORICAL_TYPES
        if spec.value_type not in fits:
            problems.append(
                _problem(
                    f"{path}.kind",
                    N_("{indicator} holds {value_type} values; it cannot be a {kind} feature."),
                    indicator=f.indicator,
                    value_type=spec.value_type,
                    kind=f.kind,
                )
            )
            continue
        if f.kind == "categorical":
            allowed = FLAG_VALUES if spec.value_type == "flag" else spec.allowed_values
            for j, b in enumerate(f.bins):
                for v in b.values:
                    if v not in allowed:
                        problems.append(
                            _problem(
                                f"{path}.bins.{j}.values",
                                N_("{value} is not a value of {indicator}; it takes: {allowed}."),
                                value=v,
                                indicator=f.indicator,
                                allowed=", ".join(allowed),
                            )
                        )
    if problems:
        raise InvalidScorecard(problems[0]["message"], details=problems, **problems[0]["params"])


def _problem(field: str, message: str, **params: Any) -> dict[str, Any]:
    return {"field": field, "message": message, "params": params}


def add_scorecard(
    session: Session, *, actor: Actor, model_id: int, definition: dict[str, Any]
) -> ModelVersion:
    """A new draft version from a written scorecard."""
    model = _own_model(session, actor, model_id)
    card = Scorecard.from_json(definition)
    check_features(card, acquisition.key_indicators(session))
    version = _new_version(session, model, card, source="scorecard", created_by=actor.user_id)
    audit.record(
        session,
        actor=actor,
        action="scoring.version_create",
        target_type="model_version",
        target_id=version.id,
        details={"model_id": model.id, "number": version.number, "source": "scorecard"},
    )
    return version


def _new_version(
    session: Session,
    model: ScoringModel,
    card: Scorecard,
    *,
    source: str,
    created_by: int | None,
    metrics: dict[str, Any] | None = None,
    binning: list[Any] | None = None,
    population: dict[str, Any] | None = None,
) -> ModelVersion:
    version = ModelVersion(
        model_id=model.id,
        number=repository.next_number(session, model.id),
        source=source,
        status=DRAFT,
        definition=card.to_json(),
        metrics=metrics,
        binning=binning,
        population=population,
        created_by=created_by,
        decision_note="",
    )
    repository.add(session, version)
    return version


def change_state(
    session: Session, *, actor: Actor, version_id: int, change: str, note: str = ""
) -> ModelVersion:
    """Move a version along the approval machine (``TRANSITIONS``)."""
    version, _ = _own_version(session, actor, version_id)
    version = repository.version(session, version.id, lock=True) or version
    target = TRANSITIONS.get((version.status, change))
    if target is None:
        raise VersionStateConflict(state=version.status, change=change)
    now = utcnow()
    if change == "submit":
        if actor.role is not Role.RISK_MANAGER:
            raise PermissionDenied(action="model.submit")
        version.submitted_by, version.submitted_at = actor.user_id, now
        if version.population is None:
            version.population = _baseline(session, scorecard_of(version))
    elif change in ("approve", "reject"):
        if actor.user_id is None:
            raise PermissionDenied(N_("A model version is approved by a person, not an API key."))
        if actor.user_id in (version.submitted_by, version.created_by):
            raise SameMaker()
        version.decided_by, version.decided_at, version.decision_note = actor.user_id, now, note
    elif change == "retire" and actor.user_id is None:
        raise PermissionDenied(N_("A model version is approved by a person, not an API key."))
    version.status = target
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=f"scoring.version_{change}",
        target_type="model_version",
        target_id=version.id,
        details={"status": target, "note": note[:300]} if note else {"status": target},
    )
    return version


def _baseline(session: Session, card: Scorecard) -> dict[str, Any] | None:
    """A written card's PSI baseline: today's eligible population, when there is a snapshot."""
    view = acquisition.snapshot_view()
    if view is None:
        return None
    bins, scores, _ = _population_scores(session, view, card)
    pop = training.population(card, bins, scores)
    pop["snapshot_version"] = view.version
    return pop


def approved_version(session: Session, *, version_id: int, institution_id: int) -> ModelVersion:
    """The version, if it belongs to ``institution_id`` (else 404) and is approved (else 409)."""
    found = repository.version_with_model(session, version_id)
    if found is None or found[1].institution_id != institution_id:
        raise VersionNotFound()
    version = found[0]
    if not version.is_approved():
        raise NotApproved(id=version.id, state=version.status)
    return version


def scoring_version(
    session: Session, *, actor: Actor, model_id: int, version_id: int | None = None
) -> int:
    """The version a core system scores with: ``version_id`` if it is one of the model's,
    else the model's newest approved version (409 when it has none)."""
    model = _own_model(session, actor, model_id)
    candidates = repository.versions_of(session, model.id)
    if version_id is not None:
        if not any(v.id == version_id for v in candidates):
            raise VersionNotFound()
        return version_id
    approved = [v for v in candidates if v.is_approved()]
    if not approved:
        raise NoApprovedVersion(id=model.id)
    return approved[0].id


# --- export ------------------------------------------------------------------------------------


def export_json(session: Session, *, actor: Actor, version_id: int) -> dict[str, Any]:
    version, model = _own_version(session, actor, version_id)
    audit.record(
        session,
        actor=actor,
        action="scoring.export",
        target_type="model_version",
        target_id=version.id,
        details={"format": "json"},
    )
    return {
        "model": model.name,
        "version": version.number,
        "status": version.status,
        "scorecard": version.definition,
    }


def export_sql(session: Session, *, actor: Actor, version_id: int) -> str:
    version, model = _own_version(session, actor, version_id)
    card = scorecard_of(version)
    audit.record(
        session,
        actor=actor,
        action="scoring.export",
        target_type="model_version",
        target_id=version.id,
        details={"format": "sql"},
    )
    header = (
        f"-- Puhui model {model.name!r} version {version.number} ({version.status})\n"
        "-- Numeric columns hold numbers (flags 0/1); code columns hold the code text.\n"
    )
    return header + card.to_sql_case(lambda c: c.lower()) + "\n"


# --- training ----------------------------------------------------------------------------------


def trainable(session: Session) -> dict[str, acquisition.KeySpec]:
    """Key indicators a model can be trained on (numbers, counts, flags and codes)."""
    return {
        c: s
        for c, s in acquisition.key_indicators(session).items()
        if s.value_type in NUMERIC_TYPES + CATEGORICAL_TYPES
    }


def start_training(
    session: Session,
    *,
    actor: Actor,
    model_id: int,
    filename: str,
    content: bytes | None,
    features: Sequence[str] = (),
) -> TrainingRun:
    """Read the labelled sample, match it to the registry and queue the training job."""
    model = _own_model(session, actor, model_id)
    if content is None:
        raise field_error("file", N_("Choose the file of the labelled sample."))
    specs = trainable(session)
    for i, code in enumerate(features):
        if code not in specs:
            raise field_error(
                f"features.{i}",
                N_("{indicator} is not one of the 50 key indicators."),
                indicator=code,
            )
    sample = samples.parse(filename, content)
    ids = entities.ids_for(session, [u for u, _ in sample.rows])
    matched = [[ids[u], bad] for u, bad in sample.rows if u in ids]
    n_bad = sum(b for _, b in matched)
    if len(matched) < training.MIN_ROWS:
        raise InvalidSample.at(
            "file",
            N_(
                "Only {n} of the {total} USCCs are registered entities; "
                "training needs at least {min}."
            ),
            n=len(matched),
            total=len(sample.rows),
            min=training.MIN_ROWS,
        )
    run = TrainingRun(
        model_id=model.id,
        status=QUEUED,
        filename=filename[:200],
        sample=matched,
        n_rows=len(sample.rows),
        n_matched=len(matched),
        n_bad=n_bad,
        features=list(dict.fromkeys(features)) or list(specs),
        created_by=actor.user_id,
    )
    repository.add(session, run)
    jobs.enqueue(
        session, TRAIN_JOB, {"run_id": run.id}, dedupe_key=f"{TRAIN_JOB}:{run.id}", max_attempts=2
    )
    audit.record(
        session,
        actor=actor,
        action="scoring.train",
        target_type="model",
        target_id=model.id,
        details={"run_id": run.id, "rows": run.n_rows, "matched": run.n_matched, "bad": n_bad},
    )
    return run


def training_runs(session: Session, *, actor: Actor, model_id: int) -> list[TrainingRun]:
    return repository.training_runs_of(session, _own_model(session, actor, model_id).id)


def run_training(session: Session, *, run_id: int, settings: Settings | None = None) -> None:
    """The training job: join the snapshot's indicators, fit, write a draft version."""
    run = repository.training_run(session, run_id, lock=True)
    if run is None or run.status in (DONE, FAILED):
        return  # idempotent: a finished run is not trained twice
    model = repository.model(session, run.model_id)
    assert model is not None
    run.status, run.started_at = RUNNING, utcnow()
    view = acquisition.snapshot_view(settings)
    try:
        if view is None:
            raise NoSnapshot()
        specs = trainable(session)
        codes = [c for c in run.features if c in specs]
        ids = np.array([r[0] for r in run.sample], dtype=np.int64)
        bad = np.array([r[1] for r in run.sample], dtype=np.int8)
        frame = _rows(acquisition.key_frame(session, view, codes), ids, view.n_entities)
        kinds = {
            c: "numeric" if specs[c].value_type in ("amount", "ratio", "count") else "categorical"
            for c in codes
        }
        result = training.train(frame, bad, kinds, names={c: specs[c].name_zh for c in codes})
    except (InvalidSample, NoSnapshot, ValueError) as exc:
        run.status, run.finished_at = FAILED, utcnow()
        run.error = json.dumps(_error_of(exc), ensure_ascii=False)
        session.flush()
        return
    population = {**result.population, "snapshot_version": view.version, "source": "training"}
    version = _new_version(
        session,
        model,
        result.scorecard,
        source="trained",
        created_by=run.created_by,
        metrics=result.metrics,
        binning=result.binning,
        population=population,
    )
    run.version_id, run.status, run.finished_at = version.id, DONE, utcnow()
    session.flush()
    audit.record(
        session,
        actor=None,
        username="system",
        action="scoring.trained",
        target_type="model_version",
        target_id=version.id,
        details={"run_id": run.id, "auc": result.metrics["auc"], "ks": result.metrics["ks"]},
    )


def _error_of(exc: Exception) -> dict[str, Any]:
    message = getattr(exc, "message", None) or str(exc)
    params = {k: str(v) for k, v in getattr(exc, "params", {}).items()}
    return {"message": message, "params": params}


def _rows(frame: pl.DataFrame, ids: np.ndarray, n: int) -> pl.DataFrame:
    """Rows ``ids`` of a snapshot frame; an entity newer than the snapshot is all empty."""
    inside = ids < n
    picked = frame.gather(pl.Series(np.where(inside, ids, 0), dtype=pl.UInt32))
    if inside.all():
        return picked
    mask = pl.Series(inside)
    return picked.select(
        pl.when(mask).then(pl.col(c)).otherwise(None).alias(c) for c in frame.columns
    )


# --- scoring named entities ----------------------------------------------------------------------


def score_usccs(
    session: Session,
    *,
    version_id: int,
    institution_id: int,
    usccs: Sequence[str],
    purpose: str = "decision",
    actor: Actor | None = None,
) -> list[ScoreResult]:
    """Score entities the institution holds a live authorization for (``purpose``
    decision or query). All or nothing: the first refusal raises (ConsentRequired 403 or
    EntityNotFound 404, every refused USCC listed in ``details``)."""
    response = score_many(
        session,
        version_id=version_id,
        institution_id=institution_id,
        usccs=usccs,
        purpose=purpose,
        actor=actor,
    )
    refused = [i for i in response.items if i.status == "refused"]
    if refused:
        details = [
            {
                "field": f"usccs.{i.uscc}",
                "message": i.message or "",
                "params": {"reason": i.refusal},
            }
            for i in refused
        ]
        first = refused[0]
        if first.refusal in ("invalid_uscc", "unknown_entity"):
            raise EntityNotFound(details=details)
        raise ConsentRequired(
            details=details, purpose=purpose, categories="", reason=first.refusal, uscc=first.uscc
        )
    return [
        ScoreResult(uscc=i.uscc, entity_id=eid, score=float(i.score or 0.0), reasons=i.reasons)
        for i, eid in zip(
            response.items, _ids_seen(session, [i.uscc for i in response.items]), strict=True
        )
    ]


def _ids_seen(session: Session, usccs: list[str]) -> list[int]:
    ids = entities.ids_for(session, usccs)
    return [ids[u] for u in usccs]


def score_many(
    session: Session,
    *,
    version_id: int,
    institution_id: int,
    usccs: Sequence[str],
    purpose: str = "decision",
    actor: Actor | None = None,
) -> ScoreResponse:
    """Score each USCC that may be scored and say why each other one may not."""
    if purpose not in SCORE_PURPOSES:
        raise field_error("purpose", N_("Scoring takes purpose decision or query."))
    version = approved_version(session, version_id=version_id, institution_id=institution_id)
    card = scorecard_of(version)
    specs = acquisition.key_indicators(session)
    categories = sorted({specs[c].category for c in card.features if c in specs})
    recorder = (
        actor
        if actor is not None and actor.institution_id == institution_id
        else _on_behalf(institution_id, actor)
    )
    items: list[ScoreItem] = []
    codes: list[str | None] = []
    for raw in usccs:
        try:
            codes.append(entities.validate(entities.normalize(raw)))
        except entities.InvalidUSCC:
            codes.append(None)
    ids = entities.ids_for(session, [c for c in codes if c])
    scopes: dict[int, Any] = {}
    for raw, code in zip(usccs, codes, strict=True):
        if code is None:
            items.append(
                ScoreItem(
                    uscc=raw[:40],
                    status="refused",
                    refusal="invalid_uscc",
                    message=N_("This is not a valid unified social credit code."),
                )
            )
            continue
        entity_id = ids.get(code)
        if entity_id is None:
            items.append(
                ScoreItem(
                    uscc=code,
                    status="refused",
                    refusal="unknown_entity",
                    message=N_("No registered entity has this code."),
                )
            )
            continue
        try:
            scopes[len(items)] = consent.authorize_institution(
                session,
                institution_id=institution_id,
                entity_id=entity_id,
                uscc=code,
                purpose=consent.Purpose(purpose),
                categories=categories,
            )
            items.append(ScoreItem(uscc=code, status="scored"))
        except ConsentRequired as exc:
            reason = str(exc.params.get("reason", "none"))
            items.append(
                ScoreItem(uscc=code, status="refused", refusal=reason, message=exc.message)
            )
    view = acquisition.snapshot_view()
    if scopes:
        if view is None:
            raise NoSnapshot()
        positions = list(scopes)
        rows = np.array([scopes[p].entity_id for p in positions], dtype=np.int64)
        frame = _rows(acquisition.key_frame(session, view, card.features), rows, view.n_entities)
        scores, reasons = card.score_frame(frame)
        for p, s, r in zip(positions, scores, reasons, strict=True):
            score = round(float(s), 4)
            items[p] = ScoreItem(
                uscc=items[p].uscc, status="scored", score=score, band=card.band(score), reasons=r
            )
            consent.record_query(
                session,
                recorder,
                scopes[p],
                kind="score",
                categories=categories,
                details={"model_version": version.id, "score": score, "reasons": r},
            )
    scored = len(scopes)
    audit.record(
        session,
        actor=recorder,
        action="scoring.score",
        target_type="model_version",
        target_id=version.id,
        details={
            "purpose": purpose,
            "requested": len(usccs),
            "scored": scored,
            "refused": [
                {"uscc": i.uscc, "reason": i.refusal} for i in items if i.status == "refused"
            ][:100],
            "on_behalf_of": actor.username if actor is not None and recorder is not actor else None,
            "snapshot_version": None if view is None else view.version,
        },
    )
    return ScoreResponse(
        version_id=version.id,
        purpose=purpose,
        snapshot_version=None if view is None else view.version,
        scored=scored,
        refused=len(items) - scored,
        items=items,
    )


def _on_behalf(institution_id: int, actor: Actor | None) -> Actor:
    """Who the query records name when the platform scores for an institution (an
    instant-loan decision the enterprise started): the institution, by the system."""
    return Actor(
        user_id=None,
        username="system:scoring",
        role=Role.RISK_MANAGER,
        institution_id=institution_id,
        ip=actor.ip if actor else None,
    )


# --- the whole population ------------------------------------------------------------------------


def _population_scores(
    session: Session, view: SnapshotView, card: Scorecard
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin indices, scores, entity ids) of every eligible entity of the snapshot."""
    frame = acquisition.key_frame(session, view, card.features)
    rows = np.flatnonzero(acquisition.eligible_mask(session, view.n_entities))
    frame = frame.gather(pl.Series(rows, dtype=pl.UInt32)) if rows.size < frame.height else frame
    bins = card.bin_indices(frame)
    return bins, card.points_of(bins), rows


def start_batch(session: Session, *, actor: Actor, version_id: int) -> BatchRun:
    version, _ = _own_version(session, actor, version_id)
    if not version.is_approved():
        raise NotApproved(id=version.id, state=version.status)
    run = BatchRun(version_id=version.id, status=QUEUED, n_scored=0, created_by=actor.user_id)
    repository.add(session, run)
    jobs.enqueue(
        session, BATCH_JOB, {"run_id": run.id}, dedupe_key=f"{BATCH_JOB}:{run.id}", max_attempts=3
    )
    audit.record(
        session,
        actor=actor,
        action="scoring.batch",
        target_type="model_version",
        target_id=version.id,
        details={"run_id": run.id},
    )
    return run


def batch_runs(session: Session, *, actor: Actor, version_id: int) -> list[BatchRun]:
    version, _ = _own_version(session, actor, version_id)
    return repository.batch_runs_of(session, version.id)


def batch_dir(settings: Settings) -> Path:
    return settings.data_dir / "scoring" / "batch"


def run_batch(session: Session, *, run_id: int, settings: Settings | None = None) -> None:
    """The batch job: score every eligible entity, rank, write the leads file."""
    settings = settings or get_settings()
    run = repository.batch_run(session, run_id, lock=True)
    if run is None or run.status in (DONE, FAILED):
        return
    version = repository.version(session, run.version_id)
    assert version is not None
    run.status, run.started_at = RUNNING, utcnow()
    view = acquisition.snapshot_view(settings)
    if view is None or not version.is_approved():
        run.status, run.finished_at = FAILED, utcnow()
        error = NoSnapshot() if view is None else NotApproved(id=version.id, state=version.status)
        run.error = json.dumps(_error_of(error), ensure_ascii=False)
        session.flush()
        return
    card = scorecard_of(version)
    bins, scores, rows = _population_scores(session, view, card)
    order = np.lexsort((rows, -scores))  # best first, ties by entity id
    lists, which = card.reason_table(bins[order])
    joined = pl.Series([",".join(r) for r in lists], dtype=pl.String)
    frame = pl.DataFrame(
        {
            "entity_id": pl.Series(rows[order], dtype=pl.UInt32),
            "score": pl.Series(scores[order], dtype=pl.Float64),
            "reasons": joined.gather(pl.Series(which, dtype=pl.UInt32)),
        }
    )
    folder = batch_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run.id}.parquet"
    tmp = path.with_suffix(".tmp")
    frame.write_parquet(tmp, compression="zstd", statistics=False)
    os.replace(tmp, path)
    run.status, run.finished_at = DONE, utcnow()
    run.snapshot_version, run.n_scored, run.path = view.version, int(rows.size), path.name
    session.flush()


def _lead_frame(session: Session, run: BatchRun, settings: Settings) -> pl.DataFrame:
    """The run's ranked rows, without entities that opted out since it was written."""
    if not run.path:
        raise NoBatchRun()
    frame = pl.read_parquet(batch_dir(settings) / run.path)
    view = acquisition.snapshot_view(settings)
    n = view.n_entities if view is not None else 0
    mask = acquisition.eligible_mask(session, max(n, 1))
    ids = frame.get_column("entity_id").to_numpy().astype(np.int64)
    keep = np.zeros(ids.size, dtype=bool)
    inside = ids < mask.size
    keep[inside] = mask[ids[inside]]
    return frame.filter(pl.Series(keep))


def has_leads(session: Session, *, version_id: int) -> bool:
    return repository.latest_done_batch(session, version_id) is not None


def leads(
    session: Session,
    *,
    actor: Actor,
    version_id: int,
    offset: int = 0,
    limit: int = 20,
    settings: Settings | None = None,
) -> LeadPage:
    version, _ = _own_version(session, actor, version_id)
    run = repository.latest_done_batch(session, version.id)
    if run is None:
        raise NoBatchRun()
    settings = settings or get_settings()
    frame = _lead_frame(session, run, settings)
    card = scorecard_of(version)
    page = frame.slice(offset, limit)
    items = _leads(session, card, page, offset)
    audit.record(
        session,
        actor=actor,
        action="scoring.leads",
        target_type="model_version",
        target_id=version.id,
        details={"run_id": run.id, "offset": offset, "returned": len(items)},
    )
    return LeadPage(
        version_id=version.id,
        run_id=run.id,
        snapshot_version=run.snapshot_version,
        total=frame.height,
        offset=offset,
        limit=limit,
        items=items,
    )


def _leads(session: Session, card: Scorecard, page: pl.DataFrame, offset: int) -> list[Lead]:
    ids = page.get_column("entity_id").to_list()
    found = {e.id: e for e in entities.many(session, ids)}
    out = []
    for rank, (entity_id, score, reasons) in enumerate(page.iter_rows(), start=offset + 1):
        e = found.get(entity_id)
        if e is None:
            continue
        out.append(
            Lead(
                rank=rank,
                uscc=e.uscc,
                name=e.name,
                district=e.district,
                score=round(score, 2),
                band=card.band(score),
                reasons=[r for r in reasons.split(",") if r],
            )
        )
    return out


def leads_file(
    session: Session,
    *,
    actor: Actor,
    version_id: int,
    fmt: str,
    limit: int = 10_000,
    settings: Settings | None = None,
) -> tuple[str, str, bytes]:
    """(file name, media type, content) of the top ``limit`` leads as CSV or XLSX."""
    version, model = _own_version(session, actor, version_id)
    if fmt not in ("csv", "xlsx"):
        raise field_error("format", N_("Download as csv or xlsx."))
    limit = max(1, min(limit, MAX_DOWNLOAD))
    run = repository.latest_done_batch(session, version.id)
    if run is None:
        raise NoBatchRun()
    card = scorecard_of(version)
    frame = _lead_frame(session, run, settings or get_settings()).head(limit)
    header = ["rank", "uscc", "name", "district", "score", "band", "reasons"]
    rows: list[list[Any]] = []
    for start in range(0, frame.height, 5000):
        for lead in _leads(session, card, frame.slice(start, 5000), start):
            rows.append(
                [
                    lead.rank,
                    lead.uscc,
                    lead.name,
                    lead.district,
                    lead.score,
                    lead.band or "",
                    " ".join(lead.reasons),
                ]
            )
    audit.record(
        session,
        actor=actor,
        action="scoring.leads_download",
        target_type="model_version",
        target_id=version.id,
        details={"run_id": run.id, "format": fmt, "rows": len(rows)},
    )
    stem = f"leads-{model.id}-v{version.number}-run{run.id}"
    if fmt == "csv":
        buf = io.StringIO()
        import csv

        writer = csv.writer(buf)
        writer.writerow(header)
        writer.writerows(rows)
        return f"{stem}.csv", "text/csv; charset=utf-8", ("\ufeff" + buf.getvalue()).encode("utf-8")
    from puhui.ingest.generator.xlsx import workbook

    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return f"{stem}.xlsx", media, workbook([header, *rows])


# --- stability ---------------------------------------------------------------------------------


def psi_report(session: Session, *, actor: Actor, version_id: int) -> PsiReport | None:
    """Today's eligible population against the version's baseline (None without one)."""
    version, _ = _own_version(session, actor, version_id)
    base = version.population
    view = acquisition.snapshot_view()
    if not base or view is None:
        return None
    card = scorecard_of(version)
    bins, scores, _ = _population_scores(session, view, card)
    now = training.population(card, bins, np.asarray(scores))
    edges = np.asarray(base["score_edges"], dtype=np.float64)
    actual_scores = training.shares(np.searchsorted(edges, scores, side="right"), edges.size + 1)
    bounds = ["-inf", *(f"{e:.1f}" for e in edges), "+inf"]
    score_rows = [
        PsiRow(bin=f"[{lo}, {hi})", expected=e, actual=a)
        for lo, hi, e, a in zip(
            bounds, bounds[1:], base["score_shares"], actual_scores, strict=False
        )
    ]
    features = []
    for f in card.feature_specs:
        expected = base["features"].get(f.indicator)
        if expected is None:
            continue
        actual = now["features"][f.indicator]
        labels = [b.label() for b in f.bins] + ["missing"] + (["other"] if f.other else [])
        features.append(
            PsiFeature(
                indicator=f.indicator,
                psi=round(training.psi(expected, actual), 4),
                rows=[
                    PsiRow(bin=lb, expected=e, actual=a)
                    for lb, e, a in zip(labels, expected, actual, strict=False)
                ],
            )
        )
    return PsiReport(
        version_id=version.id,
        baseline="training" if version.source == "trained" else "submission",
        baseline_n=int(base["n"]),
        current_n=int(scores.size),
        snapshot_version=view.version,
        score_psi=round(training.psi(base["score_shares"], actual_scores), 4),
        score_rows=score_rows,
        features=features,
    )
