from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from puhui.entities import uscc
from puhui.ingest.readers import REGISTRY_COLUMNS
from puhui.ingest.registry_rows import check_registry, id_number_ok

ENT = uscc.make("91330212MA2H3K4L5")
IND = uscc.make("92330203MA2H3K4L6")


def id_number(first17: str) -> str:
    total = sum(
        int(c) * w
        for c, w in zip(first17, (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), strict=True)
    )
    return first17 + "10X98765432"[total % 11]


GOOD_ID = id_number("33020319900101123")


def frame(*rows: dict[str, str | None]) -> pl.DataFrame:
    base = {
        "uscc": ENT,
        "name": "宁波华光电子有限公司",
        "entity_kind": "enterprise",
        "district": "330212",
        "industry_section": "C",
        "industry_division": "39",
        "registered_capital": "5000000",
        "established": "2015-03-01",
        "status": "active",
        "legal_rep_name": "张三",
        "legal_rep_id": GOOD_ID,
    }
    data = [{**base, **r} for r in rows]
    return pl.DataFrame(
        {
            "row": list(range(1, len(data) + 1)),
            **{c: [d[c] for d in data] for c in REGISTRY_COLUMNS},
        },
        schema={"row": pl.Int64, **dict.fromkeys(REGISTRY_COLUMNS, pl.String)},
    )


class TestRegistryRows:
    def test_good_rows_are_typed(self):
        checked = check_registry(
            frame(
                {},
                {
                    "uscc": IND.lower(),
                    "entity_kind": "individual_business",
                    "name": "鄞州区张三五金店",
                },
            )
        )
        assert checked.issues.height == 0
        rows = checked.accepted.to_dicts()
        assert [r["uscc"] for r in rows] == [ENT, IND]
        assert (
            str(rows[0]["registered_capital"]) == "5000000.00"
            and str(rows[0]["established"]) == "2015-03-01"
        )

    @pytest.mark.parametrize(
        ("change", "reason", "column"),
        [
            ({"uscc": "91330212"}, "invalid_uscc", "uscc"),
            ({"name": ""}, "missing_value", "name"),
            ({"entity_kind": "company"}, "not_allowed_value", "entity_kind"),
            ({"entity_kind": "individual_business"}, "kind_mismatch", "entity_kind"),
            ({"district": "110101"}, "not_allowed_value", "district"),
            ({"industry_section": "Z"}, "not_allowed_value", "industry_section"),
            ({"registered_capital": "五百万"}, "wrong_type", "registered_capital"),
            ({"established": "2015/03/01"}, "wrong_type", "established"),
            ({"status": "sleeping"}, "not_allowed_value", "status"),
            (
                {
                    "legal_rep_id": "330203199001011230"
                    if not GOOD_ID.endswith("0")
                    else "330203199001011231"
                },
                "invalid_id_number",
                "legal_rep_id",
            ),
        ],
    )
    def test_each_rejection(self, change, reason, column):
        checked = check_registry(frame(change))
        (issue,) = checked.issues.to_dicts()
        assert (issue["row"], issue["reason"], issue["column"], issue["severity"]) == (
            1,
            reason,
            column,
            "reject",
        )
        assert checked.accepted.height == 0
        if column == "legal_rep_id":
            assert issue["value"] == "******"  # personal data stays out of the report

    def test_wrong_check_character_is_kept_and_flagged(self):
        wrong = ENT[:17] + ("0" if ENT[17] != "0" else "1")
        checked = check_registry(frame({"uscc": wrong}))
        assert checked.accepted["uscc_check_ok"].to_list() == [False]
        assert checked.issues.select("reason", "severity").row(0) == ("uscc_check_flagged", "warn")

    def test_duplicate_uscc(self):
        checked = check_registry(frame({}, {"name": "另一个名字"}))
        assert checked.issues.select("row", "reason").rows() == [(2, "duplicate")]

    @given(st.text(alphabet="0123456789", min_size=17, max_size=17))
    def test_id_number_check_matches_the_reference(self, first17):
        good = id_number(first17)
        bad = good[:17] + ("0" if good[17] != "0" else "1")
        got = (
            pl.DataFrame({"i": [good, bad]}).select(id_number_ok(pl.col("i"))).to_series().to_list()
        )
        assert got == [True, False]
