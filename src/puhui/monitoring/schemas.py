"""Request and response bodies of monitoring, and the rule templates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from puhui.core.i18n import N_

STATES = ("new", "acknowledged", "handled", "closed")  # the alert lifecycle (see machine)
ACTIONS = ("acknowledge", "handle", "close")
OUTCOMES = ("confirmed_risk", "false_positive")
MAX_ASSIGNEES = 10
MAX_BULK_IDS = 1000
UsccText = Annotated[str, Field(min_length=1, max_length=40)]


class Kind(StrEnum):
    THRESHOLD = "threshold"
    CHANGE_ABS = "change_abs"
    CHANGE_PCT = "change_pct"
    YOY_ABS = "yoy_abs"
    YOY_PCT = "yoy_pct"
    NEW_EVENT = "new_event"


class Op(StrEnum):
    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class WatchSource(StrEnum):
    PAGE = "page"
    UPLOAD = "upload"
    API = "api"
    MATCHING = "matching"


class WatchState(StrEnum):
    PENDING = "pending"  # no live monitoring authorization: not monitored
    MONITORED = "monitored"


LABELS = {
    "threshold": N_("value threshold"),
    "change_abs": N_("change against the previous period"),
    "change_pct": N_("change against the previous period (%)"),
    "yoy_abs": N_("year-on-year change"),
    "yoy_pct": N_("year-on-year change (%)"),
    "new_event": N_("new record"),
    "gt": N_("greater than"),
    "ge": N_("at least"),
    "lt": N_("less than"),
    "le": N_("at most"),
    "high": N_("high"),
    "medium": N_("medium"),
    "low": N_("low"),
    "page": N_("page"),
    "upload": N_("upload"),
    "api": N_("API"),
    "matching": N_("loan granted"),
    "pending": N_("pending authorization"),
    "monitored": N_("monitored"),
}


@dataclass(frozen=True)
class Template:
    code: str
    name: str  # English message id
    indicator: str
    kind: str
    op: str
    threshold: float
    severity: str


TEMPLATES = (
    Template(
        "tax_drop_yoy",
        N_("Tax paid fell by more than 30% year on year"),
        "OPR_TAX_TOTAL_YOY",
        "threshold",
        "lt",
        -30.0,
        "medium",
    ),
    Template("tax_arrears", N_("Tax arrears"), "OPR_TAX_ARREARS", "threshold", "gt", 0.0, "high"),
    Template(
        "ss_arrears",
        N_("Social-security arrears"),
        "OPR_SS_ARREARS",
        "threshold",
        "gt",
        0.0,
        "medium",
    ),
    Template(
        "headcount_drop",
        N_("Insured headcount fell by more than 20% year on year"),
        "OPR_SS_HEADCOUNT_YOY",
        "threshold",
        "lt",
        -20.0,
        "medium",
    ),
    Template(
        "power_drop",
        N_("Electricity use fell by more than 40% year on year"),
        "OPR_POWER_YOY",
        "threshold",
        "lt",
        -40.0,
        "low",
    ),
    Template(
        "utility_arrears_up",
        N_("Utility arrears grew by more than half"),
        "OPR_UTILITY_ARREARS",
        "change_pct",
        "gt",
        50.0,
        "low",
    ),
    Template(
        "seizure",
        N_("Real estate seized"),
        "PRP_REAL_ESTATE_SEIZED",
        "new_event",
        "gt",
        0.0,
        "high",
    ),
    Template(
        "equity_frozen", N_("Equity frozen"), "PRP_EQUITY_FROZEN", "new_event", "gt", 0.0, "high"
    ),
    Template(
        "enforcement", N_("Under court enforcement"), "NEG_ENFORCED", "new_event", "gt", 0.0, "high"
    ),
    Template(
        "dishonest",
        N_("Listed as a dishonest judgment debtor"),
        "NEG_DISHONEST",
        "new_event",
        "gt",
        0.0,
        "high",
    ),
    Template(
        "penalty",
        N_("New administrative penalty"),
        "NEG_ADMIN_PENALTIES_NEW",
        "new_event",
        "gt",
        0.0,
        "medium",
    ),
    Template(
        "lawsuit",
        N_("New lawsuit as defendant"),
        "NEG_LAWSUITS_DEFENDANT_NEW",
        "new_event",
        "gt",
        0.0,
        "medium",
    ),
    Template(
        "abnormal",
        N_("Put on the abnormal-operation list"),
        "NEG_ABNORMAL_OPERATION",
        "new_event",
        "gt",
        0.0,
        "medium",
    ),
    Template(
        "bankruptcy", N_("Bankruptcy filing"), "NEG_BANKRUPTCY", "new_event", "gt", 0.0, "high"
    ),
)
TEMPLATE_BY_CODE = {t.code: t for t in TEMPLATES}


def _text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError(N_("This field must not be empty."))
    return value


# --- watchlist ---------------------------------------------------------------------------


class WatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: UsccText
    assignees: list[int] = Field(default_factory=list, max_length=MAX_ASSIGNEES)
    note: str = Field("", max_length=200)


class WatchAssign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignees: list[int] = Field(max_length=MAX_ASSIGNEES)


class WatchRead(BaseModel):
    id: int
    uscc: str
    name: str
    state: WatchState
    source: WatchSource
    assignees: list[int]
    note: str
    created_at: datetime


class UploadRowError(BaseModel):
    row: int
    field: str
    message: str


class UploadResult(BaseModel):
    added: int
    already: int
    errors: list[UploadRowError]


# --- rules -------------------------------------------------------------------------------


class RuleCreate(BaseModel):
    """A rule, or ``template`` alone to take one of the common rules as it is (any other
    field given beside it overrides the template's)."""

    model_config = ConfigDict(extra="forbid")

    template: str | None = Field(None, max_length=40)
    name: str | None = Field(None, max_length=100)
    indicator: str | None = Field(None, max_length=64)
    kind: Kind | None = None
    op: Op | None = None
    threshold: float | None = Field(None, ge=-1e12, le=1e12, allow_inf_nan=False)
    severity: Severity | None = None
    enabled: bool = True

    _name = field_validator("name")(lambda v: v if v is None else _text(v))


class RuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=100)
    op: Op | None = None
    threshold: float | None = Field(None, ge=-1e12, le=1e12, allow_inf_nan=False)
    severity: Severity | None = None
    enabled: bool | None = None

    _name = field_validator("name")(lambda v: v if v is None else _text(v))


class RuleRead(BaseModel):
    id: int
    name: str
    indicator: str
    indicator_name: str
    kind: Kind
    op: Op
    threshold: float
    severity: Severity
    enabled: bool
    template: str | None
    revision: int
    updated_at: datetime


class RuleSetRead(BaseModel):
    version: int
    rules: list[RuleRead]


class TemplateRead(BaseModel):
    code: str
    name: str
    indicator: str
    kind: Kind
    op: Op
    threshold: float
    severity: Severity


class SnoozeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: UsccText
    until: date


class SnoozeRead(BaseModel):
    rule_id: int
    uscc: str
    until: date


# --- alerts ------------------------------------------------------------------------------


class AlertFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str | None = None
    severity: Severity | None = None
    indicator: str | None = Field(None, max_length=64)
    rule_id: int | None = None
    uscc: str | None = Field(None, max_length=40)
    since: date | None = None
    until: date | None = None

    @field_validator("status")
    @classmethod
    def _status(cls, v: str | None) -> str | None:
        if v is not None and v not in STATES:
            raise ValueError(N_("Unknown alert status."))
        return v


class AlertRead(BaseModel):
    id: int
    uscc: str
    entity_name: str
    rule_id: int
    rule_name: str
    indicator: str
    indicator_name: str
    period: int
    kind: Kind
    op: Op
    threshold: float
    severity: Severity
    value: float | None
    base_value: float | None
    measure: float | None
    batch_id: int | None
    rule_set_version: int
    status: str
    outcome: str | None
    note: str
    created_at: datetime
    acknowledged_at: datetime | None
    handled_at: datetime | None
    closed_at: datetime | None


class AlertAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(max_length=20)
    outcome: str | None = Field(None, max_length=20)
    note: str = Field("", max_length=2000)

    @field_validator("action")
    @classmethod
    def _action(cls, v: str) -> str:
        if v not in ACTIONS:
            raise ValueError(N_("Unknown action."))
        return v

    @field_validator("outcome")
    @classmethod
    def _outcome(cls, v: str | None) -> str | None:
        if v is not None and v not in OUTCOMES:
            raise ValueError(N_("Choose the outcome: confirmed risk or false positive."))
        return v


class BulkAlertAction(AlertAction):
    """The action on the listed ``ids``, or — with ``all_matching`` — on every alert that
    matches ``filter`` (across pages). Alerts the action does not fit are skipped."""

    ids: list[int] = Field(default_factory=list, max_length=MAX_BULK_IDS)
    all_matching: bool = False
    filter: AlertFilter = Field(default_factory=AlertFilter)


class BulkResult(BaseModel):
    changed: int
    skipped: int


class DayCount(BaseModel):
    day: date
    alerts: int
    entities: int


class KeyCount(BaseModel):
    key: str
    label: str
    alerts: int


class AlertStats(BaseModel):
    since: date
    until: date
    total: int
    entities: int
    per_day: list[DayCount]
    by_indicator: list[KeyCount]
    by_severity: list[KeyCount]
    by_status: list[KeyCount]


class TrendRead(BaseModel):
    """The indicator's history: ``values[i]`` is the value of ``periods[i]``."""

    name: str
    unit_label: str
    periods: list[int]
    values: list[float | None]


class AlertDetailRead(BaseModel):
    alert: AlertRead
    trend: TrendRead | None  # None: no live monitoring authorization to read the history
    source: str | None  # the data source of the batch that raised the alert


class Queued(BaseModel):
    queued: bool


# --- batch downloads -----------------------------------------------------------------------

MAX_DOWNLOAD_INDICATORS = 100
MAX_DOWNLOAD_PERIODS = 120
MAX_DOWNLOAD_ENTITIES = 10_000


class DownloadFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


class PeriodRange(BaseModel):
    """``from`` and ``to`` (YYYYMM), both included."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: int = Field(alias="from")
    end: int = Field(alias="to")


class DownloadCreate(BaseModel):
    """Indicators (catalog codes) and periods (a YYYYMM list or a ``{from, to}`` range) of
    the watched entities (all of them, or ``usccs``) as CSV or Parquet."""

    model_config = ConfigDict(extra="forbid")

    indicators: list[Annotated[str, Field(max_length=64)]] = Field(
        min_length=1, max_length=MAX_DOWNLOAD_INDICATORS
    )
    periods: PeriodRange | list[int] = Field()
    format: DownloadFormat = DownloadFormat.CSV
    usccs: list[UsccText] | None = Field(None, max_length=MAX_DOWNLOAD_ENTITIES)


class DownloadSkip(BaseModel):
    uscc: str
    reason: str  # not_watched, unknown, or why the download authorization does not fit
    message: str


class DownloadRead(BaseModel):
    id: str
    format: DownloadFormat
    indicators: list[str]
    periods: list[int]
    entity_count: int
    row_count: int
    skipped: list[DownloadSkip]
    package_sm3: str
    size_bytes: int
    key_fingerprint: str
    requested_by: int | None
    created_at: datetime
    expires_at: datetime
    available: bool  # the package can still be fetched again


class DownloadCreated(BaseModel):
    """The new download and its content key: shown this once, never stored."""

    download: DownloadRead
    key: str  # 32 hex digits (SM4-128)
    package_url: str
