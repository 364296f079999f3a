"""Request and response bodies of matching. Amounts cross the API in yuan (``Decimal``,
at most two places), rates as annual percentages (``3.45``), terms in months."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from puhui.accounts.schemas import check_mobile
from puhui.core.i18n import N_
from puhui.entities.service import DISTRICTS, EntityKind

MAX_CLAIMS = 3
LOAN_GRANTED = "matching.loan_granted"
"""Job topic published when a claim is granted (payload: ``claim_id``, ``institution_id``,
``entity_id``, ``user_id``), e.g. to put the borrower on the bank's watchlist."""
INDUSTRY_SECTIONS = "ABCDEFGHIJKLMNOPQRST"
DISTRICT_CODE = r"^\d{6}$"
MAX_AMOUNT = Decimal("10000000000")  # ten billion yuan: far above any inclusive loan
Amount = Annotated[Decimal, Field(gt=0, le=MAX_AMOUNT, decimal_places=2)]
Rate = Annotated[Decimal, Field(gt=0, le=Decimal("36"), decimal_places=2)]
Term = Annotated[int, Field(ge=1, le=360)]


class Guarantee(StrEnum):
    CREDIT = "credit"
    MORTGAGE = "mortgage"
    GUARANTEE = "guarantee"
    PLEDGE = "pledge"


class Channel(StrEnum):
    REGISTERED = "registered"  # a logged-in enterprise's full form
    SIMPLE = "simple"  # mobile + one-time code + USCC + amount, no account needed
    PRODUCT = "product"  # straight to a featured product's institution
    EVENT = "event"  # raised in a financing event
    LOAN_CODE = "loan_code"  # a scanned QR loan code
    WECHAT = "wechat"  # the WeChat official account


class CodeTarget(StrEnum):
    INSTITUTION = "institution"
    BRANCH = "branch"
    MANAGER = "manager"
    PRODUCT = "product"
    EVENT = "event"


class ClaimStatus(StrEnum):
    CLAIMED = "claimed"
    CONTACTED = "contacted"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    GRANTED = "granted"
    DECLINED = "declined"
    RELEASED = "released"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class DemandStatus(StrEnum):
    OPEN = "open"
    GRANTED = "granted"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# Enum values shown on pages, marked for the message catalog.
LABELS = (
    N_("registered"),
    N_("simple"),
    N_("product"),
    N_("event"),
    N_("loan_code"),
    N_("wechat"),
    N_("credit"),
    N_("mortgage"),
    N_("guarantee"),
    N_("pledge"),
    N_("claimed"),
    N_("contacted"),
    N_("under_review"),
    N_("approved"),
    N_("granted"),
    N_("released"),
    N_("cancelled"),
    N_("open"),
    N_("institution"),
    N_("branch"),
    N_("manager"),
    N_("sampled"),
    N_("stalled"),
    N_("queued"),
    N_("done"),
)


def yuan_to_fen(value: Decimal) -> int:
    return int((value * 100).to_integral_value())


def fen_to_yuan(value: int | None) -> Decimal | None:
    return None if value is None else (Decimal(value) / 100).quantize(Decimal("0.01"))


def pct_to_bp(value: Decimal) -> int:
    return int((value * 100).to_integral_value())


def bp_to_pct(value: int | None) -> Decimal | None:
    return None if value is None else (Decimal(value) / 100).quantize(Decimal("0.01"))


def _text(value: str) -> str:
    return " ".join(value.split())


# --- products ----------------------------------------------------------------------------


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2, max_length=100)
    description: str = Field("", max_length=2000)
    amount_min: Amount
    amount_max: Amount
    term_min_months: Term
    term_max_months: Term
    rate_min: Rate
    rate_max: Rate
    guarantee_types: list[Guarantee] = Field(min_length=1, max_length=4)
    entity_kinds: list[EntityKind] = Field(default_factory=list, max_length=4)
    industries: list[str] = Field(default_factory=list, max_length=20)
    districts: list[str] = Field(default_factory=list, max_length=20)
    online_only: bool = False
    documents: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=20
    )

    _name = field_validator("name")(_text)

    @field_validator("industries")
    @classmethod
    def _industries(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if len(v) != 1 or v not in INDUSTRY_SECTIONS]
        if bad:
            raise ValueError(N_("Industries are GB/T 4754 sections, one letter from A to T."))
        return sorted(set(value))

    @field_validator("districts")
    @classmethod
    def _districts(cls, value: list[str]) -> list[str]:
        if any(v not in DISTRICTS for v in value):
            raise ValueError(N_("Unknown district code."))
        return sorted(set(value))

    @model_validator(mode="after")
    def _ranges(self) -> ProductCreate:
        if self.amount_min > self.amount_max:
            raise ValueError(N_("The smallest amount is larger than the largest."))
        if self.term_min_months > self.term_max_months:
            raise ValueError(N_("The shortest term is longer than the longest."))
        if self.rate_min > self.rate_max:
            raise ValueError(N_("The lowest rate is higher than the highest."))
        return self


class ProductRead(BaseModel):
    id: int
    institution_id: int
    institution_name: str
    name: str
    description: str
    amount_min: Decimal
    amount_max: Decimal
    term_min_months: int
    term_max_months: int
    rate_min: Decimal
    rate_max: Decimal
    guarantee_types: list[str]
    entity_kinds: list[str]
    industries: list[str]
    districts: list[str]
    online_only: bool
    documents: list[str]
    is_active: bool
    created_at: datetime


# --- events ------------------------------------------------------------------------------


class EventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2, max_length=100)
    description: str = Field("", max_length=2000)
    starts_at: datetime
    ends_at: datetime
    institution_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(
        min_length=1, max_length=100
    )
    product_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(
        default_factory=list, max_length=200
    )

    _name = field_validator("name")(_text)

    @model_validator(mode="after")
    def _window(self) -> EventCreate:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError(N_("Give times with a time zone."))
        if self.ends_at <= self.starts_at:
            raise ValueError(N_("An event must end after it starts."))
        return self


class EventRead(BaseModel):
    id: int
    name: str
    description: str
    starts_at: datetime
    ends_at: datetime
    state: str  # upcoming, live, ended
    institutions: list[tuple[int, str]]
    product_ids: list[int]


# --- loan codes --------------------------------------------------------------------------


class LoanCodeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: CodeTarget
    label: str = Field("", max_length=100)
    branch: str = Field("", max_length=100)
    manager_id: int | None = Field(None, ge=1, le=2**31 - 1)
    product_id: int | None = Field(None, ge=1, le=2**31 - 1)
    event_id: int | None = Field(None, ge=1, le=2**31 - 1)

    @model_validator(mode="after")
    def _needs(self) -> LoanCodeCreate:
        if self.target is CodeTarget.BRANCH and not self.branch.strip():
            raise ValueError(N_("A branch code needs the branch's name."))
        if self.target is CodeTarget.PRODUCT and self.product_id is None:
            raise ValueError(N_("A product code needs the product."))
        if self.target is CodeTarget.EVENT and self.event_id is None:
            raise ValueError(N_("An event code needs the event."))
        return self


class LoanCodeRead(BaseModel):
    id: int
    code: str
    target: str
    label: str
    institution_id: int | None
    institution_name: str | None
    branch: str
    manager_id: int | None
    product_id: int | None
    product_name: str | None
    event_id: int | None
    event_name: str | None
    scans: int
    demands: int
    url: str
    is_active: bool


# --- demands -----------------------------------------------------------------------------


class DemandCreate(BaseModel):
    """A logged-in enterprise's application (channels registered, product, event,
    loan_code: which one follows from the optional references)."""

    model_config = ConfigDict(extra="forbid")

    amount: Amount
    term_months: Term
    purpose: str = Field(min_length=2, max_length=300)
    guarantee_type: Guarantee = Guarantee.CREDIT
    contact_name: str = Field(min_length=1, max_length=50)
    contact_mobile: str | None = None
    product_id: int | None = Field(None, ge=1, le=2**31 - 1)
    event_id: int | None = Field(None, ge=1, le=2**31 - 1)
    loan_code: str | None = Field(None, min_length=4, max_length=16)

    _purpose = field_validator("purpose", "contact_name")(_text)

    @field_validator("contact_mobile")
    @classmethod
    def _mobile(cls, value: str | None) -> str | None:
        return None if value in (None, "") else check_mobile(value)


class SimpleCodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mobile: str

    _mobile = field_validator("mobile")(check_mobile)


class SimpleDemand(BaseModel):
    """No account: the mobile is proved by the one-time code; the platform links the
    demand to the entity's account or creates one."""

    model_config = ConfigDict(extra="forbid")

    mobile: str
    code: str = Field(min_length=4, max_length=8)
    uscc: str = Field(min_length=15, max_length=40)
    amount: Amount
    term_months: Term = 12
    purpose: str = Field(N_("Working capital"), min_length=2, max_length=300)
    guarantee_type: Guarantee = Guarantee.CREDIT
    contact_name: str = Field("", max_length=50)
    loan_code: str | None = Field(None, min_length=4, max_length=16)
    via_wechat: bool = False

    _mobile = field_validator("mobile")(check_mobile)
    _purpose = field_validator("purpose", "contact_name")(_text)


class ClaimRead(BaseModel):
    id: int
    demand_id: int
    institution_id: int
    institution_name: str
    manager: str | None
    status: str
    active: bool
    claimed_at: datetime
    contact_due_at: datetime
    outcome_due_at: datetime
    contacted_at: datetime | None
    ended_at: datetime | None
    overdue: bool
    amount: Decimal | None
    rate: Decimal | None
    reason: str
    chosen: bool
    rating: int | None
    next_steps: list[str]


class ClaimEventRead(BaseModel):
    id: int
    claim_id: int
    institution_name: str
    from_status: str | None
    to_status: str
    by_side: str
    at: datetime
    reason: str
    amount: Decimal | None
    rate: Decimal | None


class DemandRead(BaseModel):
    id: int
    uscc: str
    entity_name: str
    entity_kind: str
    district: str
    industry_section: str | None
    health_grade: str | None
    channel: str
    amount: Decimal
    term_months: int
    purpose: str
    guarantee_type: str
    contact_name: str
    contact_mobile: str
    contact_masked: bool
    product_id: int | None
    product_name: str | None
    event_id: int | None
    event_name: str | None
    target_institution_id: int | None
    target_institution_name: str | None
    status: str
    active_claims: int
    slots_left: int
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None
    claims: list[ClaimRead] = []
    timeline: list[ClaimEventRead] = []


class ClaimStep(BaseModel):
    """Move a claim to its next state. ``approved`` and ``granted`` take the amount and
    the rate; ``declined``, ``released`` and ``cancelled`` take a reason."""

    model_config = ConfigDict(extra="forbid")

    to: ClaimStatus
    reason: str = Field("", max_length=300)
    amount: Amount | None = None
    rate: Rate | None = None

    _reason = field_validator("reason")(_text)


class Rating(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=300)


class DemandCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=2, max_length=300)


# --- callbacks and the league table ------------------------------------------------------


class CallbackSample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    share: float = Field(0.1, gt=0, le=1)
    since: datetime | None = None
    stalled_hours: int = Field(24, ge=1, le=24 * 30)
    seed: int | None = None


class CallbackResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reached: bool
    contacted_by_bank: bool | None = None
    satisfaction: int | None = Field(None, ge=1, le=5)
    complaint: str = Field("", max_length=1000)
    note: str = Field("", max_length=1000)

    @model_validator(mode="after")
    def _reached(self) -> CallbackResult:
        if self.reached and (self.contacted_by_bank is None or self.satisfaction is None):
            raise ValueError(
                N_(
                    "When the enterprise was reached, record whether a bank contacted it and "
                    "its satisfaction (1-5)."
                )
            )
        return self


class CallbackRead(BaseModel):
    id: int
    demand_id: int
    uscc: str
    entity_name: str
    contact_mobile: str
    reason: str
    status: str
    called_at: datetime | None
    reached: bool | None
    contacted_by_bank: bool | None
    satisfaction: int | None
    complaint: str
    note: str
    created_at: datetime


class SampleResult(BaseModel):
    sampled: int
    stalled: int


class LeagueRow(BaseModel):
    institution_id: int
    institution_name: str
    claims: int
    active: int
    median_contact_hours: float | None
    within_sla: float | None
    granted: int
    grant_rate: float | None
    overdue: int
    satisfaction: float | None
    ratings: int
    complaints: int = 0


class LeagueMonth(BaseModel):
    """One institution's figures for the claims it made in one month (Asia/Shanghai);
    ``institution_id`` null is the platform as a whole."""

    institution_id: int | None
    month: str
    claims: int
    active: int
    median_contact_hours: float | None
    within_sla: float | None
    granted: int
    grant_rate: float | None
    overdue: int
    satisfaction: float | None
    ratings: int
    complaints: int


class LeagueReport(BaseModel):
    rows: list[LeagueRow]
    months: list[LeagueMonth]
