"""What the quality pages and ``/api/v1/quality/…`` answer: banks' service quality, data
quality by source and category, and inclusive-finance coverage by place.

Shares are fractions in [0, 1] rounded to 4 places (3 in the league, as matching rounds
them); months are ``YYYY-MM`` in Asia/Shanghai."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from puhui.matching.schemas import LeagueMonth

# GB/T 4754-2017 sections (门类), the labels of the industry table
SECTIONS: dict[str, str] = {
    "A": "农、林、牧、渔业",
    "B": "采矿业",
    "C": "制造业",
    "D": "电力、热力、燃气及水生产和供应业",
    "E": "建筑业",
    "F": "批发和零售业",
    "G": "交通运输、仓储和邮政业",
    "H": "住宿和餐饮业",
    "I": "信息传输、软件和信息技术服务业",
    "J": "金融业",
    "K": "房地产业",
    "L": "租赁和商务服务业",
    "M": "科学研究和技术服务业",
    "N": "水利、环境和公共设施管理业",
    "O": "居民服务、修理和其他服务业",
    "P": "教育",
    "Q": "卫生和社会工作",
    "R": "文化、体育和娱乐业",
    "S": "公共管理、社会保障和社会组织",
    "T": "国际组织",
}

# Where each district sits on the tile map (column, row): roughly the city's geography,
# north at the top (慈溪 on the bay, 宁海 and 象山 in the south).
DISTRICT_TILES: dict[str, tuple[int, int]] = {
    "330282": (1, 0),  # 慈溪市
    "330281": (0, 1),  # 余姚市
    "330205": (1, 1),  # 江北区
    "330211": (2, 1),  # 镇海区
    "330203": (0, 2),  # 海曙区
    "330212": (1, 2),  # 鄞州区
    "330206": (2, 2),  # 北仑区
    "330213": (1, 3),  # 奉化区
    "330225": (2, 3),  # 象山县
    "330226": (1, 4),  # 宁海县
}

# How often each schedule promises a batch, in days (a month and a quarter at their
# longest, so a source is never called late on a short month)
SCHEDULE_DAYS: dict[str, int] = {"weekly": 7, "monthly": 31, "quarterly": 92, "annual": 366}


# --- service quality ------------------------------------------------------------------


class ServiceRow(BaseModel):
    """One line of the league. For an institution's administrator, other institutions
    appear only by rank: ``institution_id`` and ``institution_name`` are null."""

    rank: int
    institution_id: int | None
    institution_name: str | None
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


class ServiceQuality(BaseModel):
    since: datetime
    months: list[str]
    rows: list[ServiceRow]
    trend: list[LeagueMonth]  # per institution and month; institution_id null = platform
    as_of: datetime | None = None  # when the rollups were refreshed (None: never yet)


# --- data quality ---------------------------------------------------------------------


class ReasonCount(BaseModel):
    reason: str
    label: str
    count: int


class SourceQuality(BaseModel):
    code: str
    name: str
    department: str
    schedule: str
    is_active: bool
    last_batch_at: datetime | None
    due_at: datetime | None  # the next batch is due then (null: never received)
    overdue_days: int | None  # whole days past due; null when never received
    state: str  # on_time, overdue, never
    batches: int
    rejected_batches: int
    rows_total: int
    rows_rejected: int
    rejection_rate: float | None
    top_reasons: list[ReasonCount]


class CategoryQuality(BaseModel):
    category: str
    label: str
    indicators: int
    entities_with_value: int
    share: float | None  # of the registry's entities, with at least one value
    fill_rate: float | None  # mean over the category's indicators of their own share


class DataQuality(BaseModel):
    since: datetime
    now: datetime
    entities: int
    snapshot_version: int | None
    sources: list[SourceQuality]
    categories: list[CategoryQuality]


# --- coverage of inclusive finance ----------------------------------------------------


class PlaceCoverage(BaseModel):
    code: str
    name: str
    entities: int
    borrowers: int
    share: float | None
    column: int | None = None  # on the tile map (districts only)
    row: int | None = None


class CoverageMonth(BaseModel):
    """``district`` null is the whole city. ``borrowers`` is cumulative: entities whose
    first loan through the platform came in this month or before."""

    district: str | None
    month: str
    new_borrowers: int
    borrowers: int
    share: float | None


class Coverage(BaseModel):
    entities: int
    borrowers: int
    share: float | None
    months: list[str]
    districts: list[PlaceCoverage]
    industries: list[PlaceCoverage]
    trend: list[CoverageMonth]
    as_of: datetime | None = None  # when the rollups were refreshed (None: never yet)
