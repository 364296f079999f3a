from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from puhui.entities import service
from puhui.entities.schemas import EntityRecord

_seq = itertools.count(100)


def record(name: str, *, district: str = "330212", kind: str = "91", **extra) -> EntityRecord:
    n = next(_seq)
    code = service.make(f"{kind}{district}MA{n:07d}")
    values = {
        "uscc": code,
        "name": name,
        "kind": service.kind_of(code).value,
        "district": district,
        "industry_section": "C",
        "industry_division": "34",
        "registered_capital": Decimal("5000000.00"),
        "established": date(2015, 3, 1),
        "status": "active",
        "legal_rep_name": "张三",
        "legal_rep_id": "330203199001011234",
    }
    values.update(extra)
    return EntityRecord(**values)
