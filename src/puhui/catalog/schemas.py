from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class IndicatorRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    category: str
    name_zh: str
    name_en: str
    definition: str
    unit: str
    value_type: str
    allowed_values: list[str]
    min_value: float | None
    max_value: float | None
    source: str
    level: str
    frequency: str
    time_series: bool
    sensitivity: str
    personal: bool
    is_key: bool
    is_warning: bool
    catalog_version: int
