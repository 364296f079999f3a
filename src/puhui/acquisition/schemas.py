"""The filter language and what a filter answers.

A request is ``{"conditions": [...], "match": "all", "sort": {...}, "limit", "offset"}``.
A condition names one key indicator and an ``op``:

- ``between`` (``lo``, ``hi``, both inclusive) and ``gt ge lt le`` (``value``): numbers;
- ``eq ne`` (``value``): a number, or one allowed code of a grade or code indicator;
- ``in`` (``values``): allowed codes of a grade or code indicator;
- ``is_true is_false``: flags; ``is_null not_null``: any indicator.

Groups ``{"all": [...]}`` and ``{"any": [...]}`` nest. A cell without a value fails every
condition except ``is_null`` (so ``ne`` and ``is_false`` do not match unknown values).
Whether an indicator exists, is key and fits the op is checked against the catalog by the
service, which names the failing condition by its path.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from puhui.core.i18n import N_
from puhui.matching.schemas import DemandCreate

MAX_DEPTH = 4  # groups inside groups
MAX_CONDITIONS = 40  # conditions in one request, all groups counted
MAX_LIMIT = 100
MAX_OFFSET = 100_000
DEFAULT_SORT = "CRE_HEALTH_SCORE"

Code = Annotated[str, Field(min_length=1, max_length=64)]
Number = Annotated[float, Field(allow_inf_nan=False)]


class _Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    indicator: Code


class Between(_Condition):
    op: Literal["between"]
    lo: Number
    hi: Number


class Compare(_Condition):
    op: Literal["gt", "ge", "lt", "le"]
    value: Number


class Equals(_Condition):
    op: Literal["eq", "ne"]
    value: Number | Annotated[str, Field(min_length=1, max_length=64)]


class InSet(_Condition):
    op: Literal["in"]
    values: Annotated[list[Code], Field(min_length=1, max_length=64)]


class Flag(_Condition):
    op: Literal["is_true", "is_false"]


class Presence(_Condition):
    op: Literal["is_null", "not_null"]


class AllOf(BaseModel):
    model_config = ConfigDict(extra="forbid")

    all: Annotated[list[Node], Field(min_length=1, max_length=MAX_CONDITIONS)]


class AnyOf(BaseModel):
    model_config = ConfigDict(extra="forbid")

    any: Annotated[list[Node], Field(min_length=1, max_length=MAX_CONDITIONS)]


Condition = Between | Compare | Equals | InSet | Flag | Presence
_TAGS = {
    "between": "between",
    "gt": "compare",
    "ge": "compare",
    "lt": "compare",
    "le": "compare",
    "eq": "equals",
    "ne": "equals",
    "in": "in",
    "is_true": "flag",
    "is_false": "flag",
    "is_null": "presence",
    "not_null": "presence",
}


def _kind(node: Any) -> str | None:
    if isinstance(node, dict):
        if "all" in node:
            return "all"
        if "any" in node:
            return "any"
        op = node.get("op")
        return _TAGS.get(op) if isinstance(op, str) else None
    if isinstance(node, AllOf | AnyOf):
        return "all" if isinstance(node, AllOf) else "any"
    op = getattr(node, "op", None)
    return _TAGS.get(op) if isinstance(op, str) else None


Node = Annotated[
    Annotated[Between, Tag("between")]
    | Annotated[Compare, Tag("compare")]
    | Annotated[Equals, Tag("equals")]
    | Annotated[InSet, Tag("in")]
    | Annotated[Flag, Tag("flag")]
    | Annotated[Presence, Tag("presence")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")],
    Discriminator(
        _kind,
        custom_error_type="invalid_condition",
        custom_error_message=(
            "A condition needs an op (between, gt, ge, lt, le, eq, ne, in, is_true, "
            "is_false, is_null, not_null); a group is {all: [...]} or {any: [...]}."
        ),
    ),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()


class Sort(BaseModel):
    model_config = ConfigDict(extra="forbid")

    indicator: Code = DEFAULT_SORT
    order: Literal["asc", "desc"] = "desc"


class FilterRequest(BaseModel):
    """Conditions on the 50 key indicators; the top-level list is combined by ``match``."""

    model_config = ConfigDict(extra="forbid")

    conditions: Annotated[list[Node], Field(max_length=MAX_CONDITIONS)] = []
    match: Literal["all", "any"] = "all"
    sort: Sort = Sort()
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 20
    offset: Annotated[int, Field(ge=0, le=MAX_OFFSET)] = 0


CellValue = bool | int | float | str | None


class FilterHit(BaseModel):
    """One matching entity: its public registry facts, its grades, and the values of the
    filtered indicators that are public (others stay behind the consent scope)."""

    uscc: str
    name: str
    kind: str
    district: str
    industry_section: str | None
    health_grade: str | None
    credit_grade: str | None
    values: dict[str, CellValue]


class FilterResult(BaseModel):
    total: int = Field(ge=0)
    limit: int
    offset: int
    sort: Sort
    snapshot_version: int | None
    items: list[FilterHit]


class KeyIndicator(BaseModel):
    """A key indicator as the filter builder offers it."""

    code: str
    category: str
    name_zh: str
    name_en: str
    unit: str
    value_type: str
    allowed_values: list[str]
    ops: list[str]


class MarketingPreference(BaseModel):
    opted_out: bool
    since: datetime | None


class MarketingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opted_out: bool


# --- saved filters, runs, lead files and invitations ----------------------------------------

Schedule = Literal["none", "daily", "weekly"]
LeadScope = Literal["all", "new"]
ExportFormat = Literal["csv", "xlsx"]
InvitationKind = Literal["demand", "authorization"]
InvitationStatus = Literal["pending", "accepted", "declined", "withdrawn", "expired"]
MAX_LEAD_PAGE = 100


def _clean_text(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError(N_("Must not be blank."))
    return value


class FilterDefinition(BaseModel):
    """What a saved filter keeps: a filter request without its page."""

    model_config = ConfigDict(extra="forbid")

    conditions: Annotated[list[Node], Field(max_length=MAX_CONDITIONS)] = []
    match: Literal["all", "any"] = "all"
    sort: Sort = Sort()

    def request(self, *, limit: int = 20, offset: int = 0) -> FilterRequest:
        return FilterRequest(
            conditions=self.conditions, match=self.match, sort=self.sort, limit=limit, offset=offset
        )


class SavedFilterCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]
    filter: FilterDefinition
    schedule: Schedule = "none"

    _name = field_validator("name")(_clean_text)


class SavedFilterUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    filter: FilterDefinition | None = None
    schedule: Schedule | None = None

    _name = field_validator("name")(lambda v: None if v is None else _clean_text(v))


class RunRead(BaseModel):
    id: int
    saved_filter_id: int
    trigger: str
    created_at: datetime
    snapshot_version: int | None
    total: int
    new_count: int
    gone_count: int


class SavedFilterRead(BaseModel):
    id: int
    name: str
    owner_id: int
    owner_name: str
    schedule: Schedule
    next_run_at: datetime | None
    definition: dict[str, Any]
    summary: str
    created_at: datetime
    updated_at: datetime | None
    last_run: RunRead | None


class LeadPage(BaseModel):
    """One page of a run's leads (all of them, or the ones new since the run before),
    ordered by the saved filter's sort on today's snapshot; opted-out entities left out."""

    run: RunRead
    scope: LeadScope
    total: int
    limit: int
    offset: int
    items: list[FilterHit]


class LeadExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: ExportFormat = "csv"
    scope: LeadScope = "all"
    limit: Annotated[int, Field(ge=1, le=100_000)] | None = None  # default: the whole list


class ExportQuotaRead(BaseModel):
    day: date
    limit: int
    used: int
    remaining: int


class InvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: Annotated[str, Field(min_length=18, max_length=18)]
    kind: InvitationKind = "demand"
    product_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    saved_filter_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    message: Annotated[str, Field(max_length=300)] = ""

    @field_validator("uscc")
    @classmethod
    def _uscc(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("message")
    @classmethod
    def _message(cls, value: str) -> str:
        return " ".join(value.split())


class InvitationRead(BaseModel):
    id: int
    institution_id: int
    institution_name: str
    inviter_name: str
    uscc: str
    entity_name: str
    kind: InvitationKind
    product_id: int | None
    product_name: str | None
    message: str
    status: InvitationStatus
    created_at: datetime
    expires_at: datetime
    responded_at: datetime | None
    response_note: str
    demand_id: int | None
    consent_id: int | None


class InvitationAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    demand: DemandCreate | None = None  # required for an invitation to apply (no references)
    authorization_days: Annotated[int, Field(ge=7, le=365)] = 90


class InvitationDecline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, Field(max_length=300)] = ""
