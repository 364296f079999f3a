"""What the PSI API takes and answers. Blinded values are base64 of 32 bytes (X25519
u-coordinates); a list is at most ``PUHUI_PSI_MAX_ITEMS`` long (checked by the service)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from puhui.acquisition.schemas import MAX_CONDITIONS, Node
from puhui.core.i18n import N_

Mode = Literal["count", "which"]
HARD_MAX_ITEMS = 1_000_000  # the schema's own bound; the configured one is lower
Blinded = Annotated[str, Field(min_length=44, max_length=44)]

LABELS = {
    "count": N_("How many (count only)"),
    "which": N_("Which ones"),
    "open": N_("Open"),
    "done": N_("Done"),
    "expired": N_("Expired"),
}


class PsiSessionCreate(BaseModel):
    """A filter on the 50 key indicators (as ``/api/v1/acquisition/filter`` takes it,
    without sort and page) and what the bank wants to learn."""

    model_config = ConfigDict(extra="forbid")

    conditions: Annotated[list[Node], Field(max_length=MAX_CONDITIONS)] = []
    match: Literal["all", "any"] = "all"
    mode: Mode = "count"


class PsiSessionRead(BaseModel):
    id: str
    mode: Mode
    status: str
    filter_summary: str
    server_items: int | None = Field(description="Entities the filter matched.")
    client_items: int | None
    max_items: int = Field(description="Items the bank may send in this session.")
    created_at: datetime
    expires_at: datetime


class PsiIntersectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[Blinded], Field(min_length=1, max_length=HARD_MAX_ITEMS)]


class PsiIntersectResult(BaseModel):
    """``items``: the bank's values raised to the server's secret (in the bank's order in
    which mode, shuffled in count mode); ``server_items``: the filtered set's blinded
    values, shuffled."""

    mode: Mode
    items: list[str]
    server_items: list[str]


class PsiGrantRead(BaseModel):
    institution_id: int
    granted: bool
    since: datetime | None
