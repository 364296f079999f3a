"""Decision policies and decisions over the API.

A policy: knock-out ``rules`` (``{"reason": "R_ABNORMAL", "label": "…", "action":
"decline"|"refer", "when": <a filter condition or group on key indicators>}``: when the
condition holds, the rule fires), a ``score_source`` (``health``: the platform's
business-health score; ``model``: an approved model version of the institution), two
cut-offs (``refer_min`` ≤ ``approve_min``) and score ``bands`` giving the limit and rate of an
approval (the highest band whose ``min_score`` the score reaches; the lowest band must
start at or below ``approve_min`` so every approval has terms)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from puhui.acquisition.schemas import Node
from puhui.core.i18n import N_
from puhui.matching.schemas import Amount, Rate, Term

Outcome = Literal["approve", "refer", "decline"]
ScoreSource = Literal["health", "model"]
ReasonCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{1,31}$")]
Score = Annotated[float, Field(ge=-100_000, le=100_000, allow_inf_nan=False)]
MAX_RULES = 30

# reasons the platform itself gives (bank rules bring their own codes and labels)
SCORE_LOW = "SCORE_BELOW_REFER"
SCORE_REFER = "SCORE_BELOW_APPROVE"
NO_SCORE = "NO_SCORE"
CAPPED = "LIMIT_BELOW_REQUEST"
PLATFORM_REASONS = {
    SCORE_LOW: N_("The score is below the product's lowest cut-off."),
    SCORE_REFER: N_("The score is below the cut-off for an automatic approval."),
    NO_SCORE: N_("There is not enough data on the platform to score this enterprise."),
    CAPPED: N_("The limit offered is lower than the amount asked for."),
}
LABELS = (N_("approve"), N_("refer"), N_("decline"), N_("health"), N_("model"))


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ReasonCode
    label: Annotated[str, Field(min_length=1, max_length=100)]
    action: Literal["decline", "refer"] = "decline"
    when: Node


class Band(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_score: Score
    limit: Amount
    rate: Rate


class PolicyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    rules: Annotated[list[Rule], Field(max_length=MAX_RULES)] = []
    score_source: ScoreSource = "health"
    model_version_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    approve_min: Score
    refer_min: Score
    bands: Annotated[list[Band], Field(min_length=1, max_length=10)]

    @model_validator(mode="after")
    def _coherent(self) -> PolicyCreate:
        if self.refer_min > self.approve_min:
            raise ValueError(N_("refer_min must not be above approve_min."))
        if (self.score_source == "model") != (self.model_version_id is not None):
            raise ValueError(N_("A model score needs model_version_id, and only a model score."))
        mins = [b.min_score for b in self.bands]
        if len(set(mins)) != len(mins):
            raise ValueError(N_("Two bands start at the same score."))
        if min(mins) > self.approve_min:
            raise ValueError(N_("The lowest band must start at or below approve_min."))
        reasons = [r.reason for r in self.rules]
        if len(set(reasons)) != len(reasons):
            raise ValueError(N_("Two rules give the same reason code."))
        self.bands.sort(key=lambda b: b.min_score, reverse=True)
        return self


class PolicyRead(BaseModel):
    id: int
    product_id: int
    product_name: str
    version: int
    rules: list[dict[str, Any]]
    score_source: ScoreSource
    model_version_id: int | None
    approve_min: float
    refer_min: float
    bands: list[dict[str, Any]]
    is_active: bool
    created_at: datetime


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Amount
    term_months: Term
    authorize: bool = False  # the decision authorization, given with the application
    authorization_days: Annotated[int, Field(ge=1, le=365)] = 30


class RuleHit(BaseModel):
    reason: str
    label: str
    action: str
    fired: bool


class DecisionRead(BaseModel):
    id: int
    product_id: int
    product_name: str
    institution_id: int
    institution_name: str
    uscc: str
    entity_name: str
    requested: Decimal
    term_months: int
    outcome: Outcome
    limit: Decimal | None
    rate: Decimal | None
    score: float | None
    score_source: ScoreSource
    reasons: list[str]
    reason_texts: list[str]
    facts: dict[str, Any]
    rules: list[RuleHit]
    policy_version: int
    created_at: datetime
