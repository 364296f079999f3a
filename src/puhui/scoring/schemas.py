"""Scoring schemas. Input schemas forbid unknown fields; a scorecard definition is
checked by ``Scorecard.from_json`` (with field paths), not by pydantic."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from puhui.core.i18n import N_

MAX_SCORE_USCCS = 1000
SCORE_PURPOSES = ("decision", "query")

# labels the pages translate: version and run states, sources, refusal reasons, bands
LABELS = (
    N_("draft"),
    N_("pending"),
    N_("approved"),
    N_("rejected"),
    N_("retired"),
    N_("queued"),
    N_("running"),
    N_("done"),
    N_("failed"),
    N_("scorecard"),
    N_("trained"),
    N_("invalid_uscc"),
    N_("unknown_entity"),
    N_("scored"),
    N_("refused"),
    N_("missing"),
    N_("other"),
    N_("training"),
    N_("submission"),
)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelCreate(Input):
    name: Name
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class ScorecardCreate(Input):
    definition: dict[str, Any] = Field(description="The scorecard JSON (see the ADR 0010).")


class VersionDecision(Input):
    note: Note = ""


class ScoreRequest(Input):
    usccs: list[Annotated[str, StringConstraints(max_length=40)]] = Field(
        min_length=1, max_length=MAX_SCORE_USCCS
    )
    purpose: Literal["decision", "query"] = "decision"


class ModelRead(BaseModel):
    id: int
    name: str
    description: str
    created_at: datetime
    versions: int = 0
    approved: list[int] = []


class VersionRead(BaseModel):
    id: int
    model_id: int
    number: int
    source: str
    status: str
    features: list[str]
    metrics: dict[str, Any] | None = None
    created_at: datetime
    created_by: int | None = None
    submitted_by: int | None = None
    submitted_at: datetime | None = None
    decided_by: int | None = None
    decided_at: datetime | None = None
    decision_note: str = ""


class TrainingRunRead(BaseModel):
    id: int
    model_id: int
    status: str
    filename: str
    n_rows: int
    n_matched: int
    n_bad: int
    features: list[str]
    error: str | None = None
    version_id: int | None = None
    created_at: datetime
    finished_at: datetime | None = None


class BatchRunRead(BaseModel):
    id: int
    version_id: int
    status: str
    snapshot_version: int | None = None
    n_scored: int
    error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None


class ScoreItem(BaseModel):
    uscc: str
    status: Literal["scored", "refused"]
    score: float | None = None
    band: str | None = None
    reasons: list[str] = []
    refusal: str | None = Field(
        None,
        description="Why this USCC was not scored: invalid_uscc, unknown_entity, none, "
        "requested, expired, revoked, not_started, wrong_purpose, out_of_scope",
    )
    message: str | None = None


class ScoreResponse(BaseModel):
    version_id: int
    purpose: str
    snapshot_version: int | None
    scored: int
    refused: int
    items: list[ScoreItem]


class Lead(BaseModel):
    rank: int
    uscc: str
    name: str
    district: str
    score: float
    band: str | None
    reasons: list[str]


class LeadPage(BaseModel):
    version_id: int
    run_id: int
    snapshot_version: int | None
    total: int
    offset: int
    limit: int
    items: list[Lead]


class PsiRow(BaseModel):
    bin: str
    expected: float
    actual: float


class PsiFeature(BaseModel):
    indicator: str
    psi: float
    rows: list[PsiRow]


class PsiReport(BaseModel):
    version_id: int
    baseline: str  # "training" or "submission"
    baseline_n: int
    current_n: int
    snapshot_version: int | None
    score_psi: float
    score_rows: list[PsiRow]
    features: list[PsiFeature]
