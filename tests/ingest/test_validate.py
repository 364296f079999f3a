from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from puhui.entities import uscc
from puhui.ingest import validate as v

GOOD = uscc.make("91330212MA2H3K4L5")
OTHER = uscc.make("91330212MA2H3K4L6")
FLAGGED = OTHER[:17] + ("0" if OTHER[17] != "0" else "1")
INDICATORS = [
    {
        "id": 1,
        "code": "OPR_TAX_TOTAL_12M",
        "value_type": "amount",
        "source": "TAX",
        "min_value": 0.0,
        "max_value": None,
        "allowed_values": [],
    },
    {
        "id": 2,
        "code": "OPR_TAX_CREDIT_GRADE",
        "value_type": "grade",
        "source": "TAX",
        "min_value": None,
        "max_value": None,
        "allowed_values": ["A", "B", "M", "C", "D"],
    },
    {
        "id": 3,
        "code": "PRP_PATENTS",
        "value_type": "count",
        "source": "CNIPA",
        "min_value": 0.0,
        "max_value": None,
        "allowed_values": [],
    },
    {
        "id": 4,
        "code": "OPR_SS_HEADCOUNT_M",
        "value_type": "count",
        "source": "TAX",
        "min_value": 0.0,
        "max_value": None,
        "allowed_values": [],
    },
    {
        "id": 5,
        "code": "OPR_TAX_TOTAL_YOY",
        "value_type": "ratio",
        "source": "TAX",
        "min_value": -1.0,
        "max_value": 100.0,
        "allowed_values": [],
    },
    {
        "id": 6,
        "code": "NEG_LAST_RECORD_DATE",
        "value_type": "date",
        "source": "TAX",
        "min_value": None,
        "max_value": None,
        "allowed_values": [],
    },
]
TABLE, ALLOWED = v.catalog_frame([v.Spec(**i) for i in INDICATORS])
REGISTRY = pl.DataFrame(
    {"uscc": [GOOD, FLAGGED], "entity_id": [1, 2], "uscc_check_ok": [True, False]}
)
TODAY = date(2026, 11, 27)


def run(rows: list[tuple[str | None, str | None, str | None, str | None]]) -> v.Checked:
    raw = pl.DataFrame(
        {
            "row": list(range(1, len(rows) + 1)),
            "uscc": [r[0] for r in rows],
            "indicator": [r[1] for r in rows],
            "period": [r[2] for r in rows],
            "value": [r[3] for r in rows],
        },
        schema={
            "row": pl.Int64,
            "uscc": pl.String,
            "indicator": pl.String,
            "period": pl.String,
            "value": pl.String,
        },
    )
    return v.check(
        raw, source="TAX", indicators=TABLE, allowed=ALLOWED, registry=REGISTRY, today=TODAY
    )


def reasons(checked: v.Checked) -> dict[int, str]:
    return dict(
        checked.issues.filter(pl.col("severity") == "reject").select("row", "reason").iter_rows()
    )


class TestEachReason:
    @pytest.mark.parametrize(
        ("row", "reason", "column", "shown"),
        [
            (
                (" 9133 0212", "OPR_TAX_TOTAL_12M", "2026-09", "1"),
                "invalid_uscc",
                "uscc",
                " 9133 0212",
            ),
            (
                (
                    GOOD[:17] + ("0" if GOOD[17] != "0" else "1"),
                    "OPR_TAX_TOTAL_12M",
                    "2026-09",
                    "1",
                ),
                "invalid_uscc_check",
                "uscc",
                None,
            ),
            (
                (uscc.make("91330212MA2H3K4L7"), "OPR_TAX_TOTAL_12M", "2026-09", "1"),
                "unknown_entity",
                "uscc",
                None,
            ),
            ((GOOD, "NO_SUCH", "2026-09", "1"), "unknown_indicator", "indicator", "NO_SUCH"),
            (
                (GOOD, "PRP_PATENTS", "2026-09", "1"),
                "indicator_not_from_source",
                "indicator",
                "PRP_PATENTS",
            ),
            ((GOOD, "OPR_TAX_TOTAL_12M", "2026-13", "1"), "bad_period", "period", "2026-13"),
            ((GOOD, "OPR_TAX_TOTAL_12M", "2027-01", "1"), "bad_period", "period", "2027-01"),
            ((GOOD, "OPR_TAX_TOTAL_12M", "1899-12", "1"), "bad_period", "period", "1899-12"),
            ((GOOD, "OPR_TAX_TOTAL_12M", "2026-09", None), "missing_value", "value", None),
            ((GOOD, "OPR_TAX_TOTAL_12M", "2026-09", "一千"), "wrong_type", "value", "一千"),
            ((GOOD, "OPR_SS_HEADCOUNT_M", "2026-09", "3.5"), "wrong_type", "value", "3.5"),
            (
                (GOOD, "NEG_LAST_RECORD_DATE", "2026-09", "2026/09/01"),
                "wrong_type",
                "value",
                "2026/09/01",
            ),
            ((GOOD, "OPR_TAX_CREDIT_GRADE", "2026-09", "AA"), "not_allowed_value", "value", "AA"),
            ((GOOD, "OPR_TAX_TOTAL_12M", "2026-09", "-1"), "out_of_range", "value", "-1"),
            ((GOOD, "OPR_TAX_TOTAL_YOY", "2026-09", "101"), "out_of_range", "value", "101"),
            ((GOOD, "OPR_TAX_TOTAL_YOY", "2026-09", "inf"), "out_of_range", "value", "inf"),
        ],
    )
    def test_reason_column_and_value(self, row, reason, column, shown):
        checked = run([row])
        (issue,) = checked.issues.to_dicts()
        assert (issue["reason"], issue["column"], issue["severity"]) == (reason, column, "reject")
        assert issue["value"] == (
            shown if shown is not None or reason == "missing_value" else row[0]
        )
        assert checked.accepted.height == 0

    def test_duplicates_after_the_first_are_rejected(self):
        checked = run(
            [
                (GOOD, "OPR_TAX_TOTAL_12M", "2026-09", "1"),
                (GOOD.lower(), "opr_tax_total_12m", "202609", "2"),
            ]
        )
        assert reasons(checked) == {2: "duplicate"}
        assert checked.accepted["value_num"].to_list() == [1.0]

    def test_a_rejected_row_does_not_make_a_later_good_row_a_duplicate(self):
        checked = run(
            [
                (GOOD, "OPR_TAX_TOTAL_12M", "2026-09", "-5"),
                (GOOD, "OPR_TAX_TOTAL_12M", "2026-09", "5"),
            ]
        )
        assert reasons(checked) == {1: "out_of_range"}
        assert checked.accepted["row"].to_list() == [2]

    def test_flagged_official_code_is_accepted_with_a_warning(self):
        checked = run([(FLAGGED, "OPR_TAX_TOTAL_12M", "2026-09", "7")])
        assert checked.accepted["entity_id"].to_list() == [2]
        assert checked.issues.select("reason", "severity").row(0) == ("uscc_check_flagged", "warn")

    def test_good_rows_are_typed(self):
        checked = run(
            [
                (GOOD, "OPR_TAX_TOTAL_12M", "2026-09", "1,234.5"),
                (GOOD, "OPR_TAX_CREDIT_GRADE", "2026-Q3", "B"),
                (GOOD, "OPR_SS_HEADCOUNT_M", "2025", "12"),
                (GOOD, "NEG_LAST_RECORD_DATE", "202610", "2026-10-02"),
            ]
        )
        assert checked.issues.height == 0
        got = checked.accepted.select("indicator_id", "period", "value_num", "value_text").rows()
        assert got == [
            (1, 202609, 1234.5, None),
            (2, 202609, None, "B"),
            (4, 202512, 12.0, None),
            (6, 202610, None, "2026-10-02"),
        ]


class TestVectorisedRules:
    @given(st.text(alphabet=uscc.ALPHABET, min_size=17, max_size=17).map(lambda s: "9" + s[1:]))
    def test_check_character_matches_the_reference(self, first17):
        first17 = first17[:2] + "330212" + first17[8:]
        code = uscc.make(first17)
        wrong = code[:17] + ("0" if code[17] != "0" else "1")
        formed, ok = v.uscc_checks(pl.col("c"))
        got = pl.DataFrame({"c": [code, wrong]}).select(formed.alias("f"), ok.alias("ok")).rows()
        assert got == [(True, True), (True, False)]

    @given(st.integers(1990, 2030), st.integers(1, 12))
    def test_period_forms(self, year, month):
        quarter = (month - 1) // 3 + 1
        frame = pl.DataFrame(
            {
                "p": [
                    f"{year}-{month:02d}",
                    f"{year}{month:02d}",
                    f"{year}-Q{quarter}",
                    str(year),
                    f"{year}-{month}",
                    "",
                    f"{year}-00",
                ]
            }
        )
        got = frame.select(v.period_expr(pl.col("p"))).to_series().to_list()
        assert got == [
            year * 100 + month,
            year * 100 + month,
            year * 100 + quarter * 3,
            year * 100 + 12,
            (year * 100 + month) if month >= 10 else None,
            None,
            None,
        ]
