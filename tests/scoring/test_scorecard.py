"""The scorecard: its JSON validator (property tests: every well-formed card is accepted
and round-trips; every broken one is refused with the path of the fault), and its three
evaluations agreeing (one row, numpy over a frame, SQL in SQLite and PostgreSQL)."""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Float, Integer, MetaData, Table, Text, insert, text

from puhui.scoring.errors import InvalidScorecard
from puhui.scoring.scorecard import Scorecard

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
points = st.floats(min_value=-500, max_value=500, allow_nan=False).map(lambda x: round(x, 3))
codes = st.sampled_from(["R1", "R2", "R3", "LOW_TAX", "NEG"])
GRADES = ["A", "B", "M", "C", "D"]


@st.composite
def numeric_feature(draw: Any, indicator: str) -> dict[str, Any]:
    edges = sorted(draw(st.sets(finite, min_size=0, max_size=6)))
    bounds = [None, *edges, None]
    bins = []
    for lo, hi in itertools.pairwise(bounds):
        b: dict[str, Any] = {"lo": lo, "hi": hi, "points": draw(points)}
        if draw(st.booleans()):
            b["reason"] = draw(codes)
        bins.append(b)
    return {
        "indicator": indicator,
        "kind": "numeric",
        "bins": bins,
        "missing": {"points": draw(points), "reason": draw(codes)},
    }


@st.composite
def categorical_feature(draw: Any, indicator: str) -> dict[str, Any]:
    values = draw(st.permutations(GRADES))
    cut = sorted(draw(st.sets(st.integers(1, len(values) - 1), max_size=3)))
    groups = [values[a:b] for a, b in zip([0, *cut], [*cut, len(values)], strict=False)]
    out: dict[str, Any] = {
        "indicator": indicator,
        "kind": "categorical",
        "bins": [{"values": g, "points": draw(points), "reason": draw(codes)} for g in groups],
        "missing": {"points": draw(points)},
    }
    if draw(st.booleans()):
        out["other"] = {"points": draw(points), "reason": draw(codes)}
    return out


def _pick(draw: Any, data: dict[str, Any], *, min_bins: int) -> int:
    """A numeric feature with at least ``min_bins`` bins, chosen among those that have
    them (drawing any feature and rejecting the rest filtered too much input)."""
    fit = [
        i
        for i, f in enumerate(data["features"])
        if f["kind"] == "numeric" and len(f["bins"]) >= min_bins
    ]
    assume(fit)
    return int(draw.draw(st.sampled_from(fit)))


@st.composite
def scorecards(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 4))
    features = [draw(numeric_feature(f"NUM_{i}")) for i in range(n)]
    if draw(st.booleans()):
        features.append(draw(categorical_feature("GRADE_X")))
    top = draw(st.floats(300, 900))
    return {
        "base_points": draw(points),
        "max_reasons": draw(st.integers(1, 4)),
        "features": features,
        "cutoffs": [
            {"label": "approve", "min_score": top},
            {"label": "review", "min_score": top - 50},
        ],
        "reasons": {c: f"reason {c}" for c in ["R1", "R2", "R3", "LOW_TAX", "NEG"]},
    }


def _fields(exc: pytest.ExceptionInfo[InvalidScorecard]) -> list[str]:
    return [d["field"] for d in exc.value.details]


class TestValidator:
    @settings(deadline=None)
    @given(scorecards())
    def test_well_formed_cards_are_accepted_and_round_trip(self, data):
        card = Scorecard.from_json(data)
        assert Scorecard.from_json(card.to_json()) == card
        assert card.features == tuple(f["indicator"] for f in data["features"])

    @settings(deadline=None)
    @given(scorecards(), st.data())
    def test_a_gap_or_overlap_between_bins_is_refused(self, data, draw):
        f = _pick(draw, data, min_bins=2)
        bins = data["features"][f]["bins"]
        i = draw.draw(st.integers(1, len(bins) - 1))
        shift = draw.draw(st.sampled_from([-1.0, 1.0]))
        broken = copy.deepcopy(data)
        lo = broken["features"][f]["bins"][i]["lo"]
        broken["features"][f]["bins"][i]["lo"] = lo + shift * max(1.0, abs(lo))
        with pytest.raises(InvalidScorecard) as exc:
            Scorecard.from_json(broken)
        assert f"features.{f}.bins.{i}.lo" in _fields(exc) or f"features.{f}.bins.{i}" in _fields(
            exc
        )

    @settings(deadline=None)
    @given(scorecards(), st.data())
    def test_bins_out_of_order_are_refused(self, data, draw):
        f = _pick(draw, data, min_bins=3)
        broken = copy.deepcopy(data)
        bins = broken["features"][f]["bins"]
        bins[1], bins[2] = bins[2], bins[1]
        with pytest.raises(InvalidScorecard) as exc:
            Scorecard.from_json(broken)
        assert any(p.startswith(f"features.{f}.bins.") for p in _fields(exc))

    @settings(deadline=None)
    @given(scorecards(), st.data())
    def test_the_range_must_be_covered(self, data, draw):
        f = _pick(draw, data, min_bins=1)
        broken = copy.deepcopy(data)
        end = draw.draw(st.sampled_from(["first", "last"]))
        if end == "first":
            broken["features"][f]["bins"][0]["lo"] = -1e9
            where = f"features.{f}.bins.0.lo"
        else:
            last = len(broken["features"][f]["bins"]) - 1
            broken["features"][f]["bins"][last]["hi"] = 2e9
            where = f"features.{f}.bins.{last}.hi"
        with pytest.raises(InvalidScorecard) as exc:
            Scorecard.from_json(broken)
        assert where in _fields(exc)

    @settings(deadline=None)
    @given(scorecards(), st.data())
    def test_every_feature_needs_a_missing_value_bin(self, data, draw):
        f = draw.draw(st.integers(0, len(data["features"]) - 1))
        broken = copy.deepcopy(data)
        del broken["features"][f]["missing"]
        with pytest.raises(InvalidScorecard) as exc:
            Scorecard.from_json(broken)
        assert f"features.{f}.missing" in _fields(exc)

    @settings(deadline=None)
    @given(
        scorecards(),
        st.data(),
        st.one_of(st.text(max_size=3), st.just(float("nan")), st.just(float("inf")), st.none()),
    )
    def test_points_must_be_finite_numbers(self, data, draw, bad):
        f = draw.draw(st.integers(0, len(data["features"]) - 1))
        i = draw.draw(st.integers(0, len(data["features"][f]["bins"]) - 1))
        broken = copy.deepcopy(data)
        broken["features"][f]["bins"][i]["points"] = bad
        with pytest.raises(InvalidScorecard) as exc:
            Scorecard.from_json(broken)
        assert f"features.{f}.bins.{i}.points" in _fields(exc)

    @settings(deadline=None)
    @given(scorecards(), st.data())
    def test_reason_codes_must_be_defined(self, data, draw):
        f = draw.draw(st.integers(0, len(data["features"]) - 1))
        broken = copy.deepcopy(data)
        broken["features"][f]["missing"]["reason"] = "UNDEFINED_CODE"
        with pytest.raises(InvalidScorecard) as exc:
            Scorecard.from_json(broken)
        assert f"features.{f}.missing.reason" in _fields(exc)

    @settings(deadline=None)
    @given(scorecards())
    def test_categorical_values_may_not_repeat(self, data):
        cats = [i for i, f in enumerate(data["features"]) if f["kind"] == "categorical"]
        assume(cats and len(data["features"][cats[0]]["bins"]) >= 2)
        broken = copy.deepcopy(data)
        bins = broken["features"][cats[0]]["bins"]
        bins[1]["values"].append(bins[0]["values"][0])
        with pytest.raises(InvalidScorecard) as exc:
            Scorecard.from_json(broken)
        assert f"features.{cats[0]}.bins.1.values" in _fields(exc)

    @settings(deadline=None)
    @given(scorecards())
    def test_cutoffs_must_descend(self, data):
        broken = copy.deepcopy(data)
        broken["cutoffs"].reverse()
        with pytest.raises(InvalidScorecard) as exc:
            Scorecard.from_json(broken)
        assert "cutoffs.1.min_score" in _fields(exc)

    def test_all_problems_are_listed(self):
        with pytest.raises(InvalidScorecard) as exc:
            Scorecard.from_json(
                {"features": [{"indicator": "X1", "kind": "numeric", "bins": []}], "x": 1}
            )
        assert set(_fields(exc)) >= {"x", "features.0.bins"}

    @settings(deadline=None)
    @given(st.one_of(st.none(), st.integers(), st.text(), st.lists(st.integers())))
    def test_garbage_is_refused_not_crashed(self, data):
        with pytest.raises(InvalidScorecard):
            Scorecard.from_json(data)  # type: ignore[arg-type]


def _row_value(draw: Any, feature: dict[str, Any]) -> Any:
    if feature["kind"] == "categorical":
        return draw(st.one_of(st.none(), st.sampled_from([*GRADES, "Z"])))
    edges = [b["hi"] for b in feature["bins"][:-1]]
    return draw(st.one_of(st.none(), finite, st.sampled_from(edges or [0.0])))


def _frame(card: dict[str, Any], rows: list[dict[str, Any]]) -> pl.DataFrame:
    cols = {}
    for f in card["features"]:
        values = [r[f["indicator"]] for r in rows]
        dtype = pl.String if f["kind"] == "categorical" else pl.Float64
        cols[f["indicator"]] = pl.Series(f["indicator"], values, dtype=dtype)
    return pl.DataFrame(cols)


class TestScoring:
    @settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(scorecards(), st.data())
    def test_frame_and_row_scores_agree(self, data, draw):
        card = Scorecard.from_json(data)
        rows = [
            {f["indicator"]: _row_value(draw.draw, f) for f in data["features"]}
            for _ in range(draw.draw(st.integers(1, 20)))
        ]
        scores, reasons = card.score_frame(_frame(data, rows))
        for row, s, r in zip(rows, scores, reasons, strict=True):
            one, why = card.score(row)
            assert s == one and r == why
            assert len(why) <= card.max_reasons and len(set(why)) == len(why)

    @settings(deadline=None)
    @given(scorecards(), st.data())
    def test_a_value_on_an_edge_takes_the_upper_bin(self, data, draw):
        card = Scorecard.from_json(data)
        f = card.feature_specs[0]
        for i, b in enumerate(f.bins[1:], start=1):
            assert f.bin_of(b.lo) == i

    @settings(deadline=None)
    @given(scorecards(), st.data())
    def test_scores_are_monotone_where_the_points_are(self, data, draw):
        feature = data["features"][0]
        ordered = sorted(b["points"] for b in feature["bins"])
        for b, p in zip(feature["bins"], ordered, strict=True):
            b["points"] = p  # ascending points: more of this indicator never scores less
        card = Scorecard.from_json(data)
        xs = sorted(draw.draw(st.lists(finite, min_size=2, max_size=10)))
        rest = {f["indicator"]: _row_value(draw.draw, f) for f in data["features"][1:]}
        scores = [card.score({**rest, feature["indicator"]: x})[0] for x in xs]
        assert all(a <= b for a, b in itertools.pairwise(scores))

    @settings(deadline=None)
    @given(scorecards(), st.data())
    def test_reasons_name_features_short_of_their_best(self, data, draw):
        card = Scorecard.from_json(data)
        row = {f["indicator"]: _row_value(draw.draw, f) for f in data["features"]}
        score, reasons = card.score(row)
        best = card.base_points + sum(f.best for f in card.feature_specs)
        assert score <= best + 1e-9
        if not reasons:
            for f in card.feature_specs:
                b = f.all_bins[f.bin_of(row[f.indicator])]
                assert b.reason is None or b.points >= f.best

    def test_flags_and_enums_from_the_snapshot(self):
        card = Scorecard.from_json(
            {
                "base_points": 500,
                "features": [
                    {
                        "indicator": "FLAG",
                        "kind": "categorical",
                        "bins": [
                            {"values": ["1"], "points": -40, "reason": "F"},
                            {"values": ["0"], "points": 10},
                        ],
                        "missing": {"points": 0},
                    },
                    {
                        "indicator": "GRADE",
                        "kind": "categorical",
                        "bins": [{"values": ["A"], "points": 30}],
                        "missing": {"points": -1},
                        "other": {"points": -20, "reason": "G"},
                    },
                    {
                        "indicator": "COUNT",
                        "kind": "numeric",
                        "bins": [
                            {"lo": None, "hi": 1, "points": 5},
                            {"lo": 1, "hi": None, "points": -15, "reason": "C"},
                        ],
                        "missing": {"points": 0},
                    },
                ],
                "reasons": {"F": "flagged", "G": "grade", "C": "count"},
            }
        )
        frame = pl.DataFrame(
            {
                "FLAG": pl.Series([True, False, None], dtype=pl.Boolean),
                "GRADE": pl.Series(["A", "B", None], dtype=pl.Enum(["A", "B", "C"])),
                "COUNT": pl.Series([3, 0, None], dtype=pl.Int32),
            }
        )
        scores, reasons = card.score_frame(frame)
        assert scores.tolist() == [500 - 40 + 30 - 15, 500 + 10 - 20 + 5, 500 + 0 - 1 + 0]
        assert reasons == [["F", "C"], ["G"], []]


# --- the SQL export ------------------------------------------------------------------------


def _sql_scores(
    engine, card: Scorecard, data: dict[str, Any], rows: list[dict[str, Any]]
) -> list[float]:
    meta = MetaData()
    cols = [Column("row_id", Integer, primary_key=True)]
    for f in data["features"]:
        kind = Text if f["kind"] == "categorical" else Float(precision=53)
        cols.append(Column(f["indicator"].lower(), kind))
    table = Table("scorecard_rows_t", meta, *cols)
    expr = card.to_sql_case(lambda c: c.lower())
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            meta.create_all(conn)
            conn.execute(
                insert(table),
                [{"row_id": i, **{k.lower(): v for k, v in r.items()}} for i, r in enumerate(rows)],
            )
            out = (
                conn.execute(text(f"SELECT {expr} FROM scorecard_rows_t ORDER BY row_id"))
                .scalars()
                .all()
            )
        finally:
            trans.rollback()
    return [float(x) for x in out]


class TestSqlExport:
    @settings(
        max_examples=25,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        deadline=None,
    )
    @given(scorecards(), st.data())
    def test_sql_gives_the_platform_scores(self, engine, data, draw):
        card = Scorecard.from_json(data)
        rows = [
            {f["indicator"]: _row_value(draw.draw, f) for f in data["features"]}
            for _ in range(draw.draw(st.integers(1, 15)))
        ]
        scores, _ = card.score_frame(_frame(data, rows))
        got = _sql_scores(engine, card, data, rows)
        assert got == pytest.approx(scores.tolist(), abs=1e-6)

    @pytest.mark.parametrize("edge", [1.2345678901234568e-300, 4.1e-297, 0.1, -30.25, 12.0])
    def test_an_edge_the_engine_would_misread_as_a_literal_stays_exact(self, engine, edge):
        """SQLite reads the literal 1.2345678901234568e-300 as a neighbouring double; the
        export writes such an edge as an exact binary fraction, so a value equal to the
        edge still falls in the upper bin, as on the platform."""
        data = {
            "base_points": 0,
            "features": [
                {
                    "indicator": "NUM_0",
                    "kind": "numeric",
                    "bins": [
                        {"lo": None, "hi": edge, "points": 1},
                        {"lo": edge, "hi": None, "points": 2},
                    ],
                    "missing": {"points": 0},
                }
            ],
        }
        card = Scorecard.from_json(data)
        rows = [{"NUM_0": edge}, {"NUM_0": math.nextafter(edge, -math.inf)}]
        scores, _ = card.score_frame(_frame(data, rows))
        assert scores.tolist() == [2.0, 1.0]
        assert _sql_scores(engine, card, data, rows) == [2.0, 1.0]

    def test_sql_on_sqlite_too(self, tmp_path):
        """The suite's database is SQLite or PostgreSQL; this one is always SQLite."""
        from sqlalchemy import create_engine

        engine = create_engine(f"sqlite:///{tmp_path / 'sql.db'}")
        data = {
            "base_points": 600,
            "features": [
                {
                    "indicator": "TAX",
                    "kind": "numeric",
                    "bins": [
                        {"lo": None, "hi": -0.5, "points": -30.25, "reason": "R1"},
                        {"lo": -0.5, "hi": 1e-05, "points": 0},
                        {"lo": 1e-05, "hi": None, "points": 12.5},
                    ],
                    "missing": {"points": -7, "reason": "R2"},
                },
                {
                    "indicator": "GRADE",
                    "kind": "categorical",
                    "bins": [{"values": ["A", "O'K"], "points": 20}],
                    "missing": {"points": -5},
                },
            ],
            "reasons": {"R1": "a", "R2": "b"},
        }
        card = Scorecard.from_json(data)
        rows = [
            {"TAX": x, "GRADE": g}
            for x in (None, -1.0, -0.5, 0.0, 1e-05, 3.0)
            for g in (None, "A", "O'K", "B")
        ]
        scores, _ = card.score_frame(_frame(data, rows))
        assert _sql_scores(engine, card, data, rows) == pytest.approx(scores.tolist(), abs=1e-9)
        assert not any(math.isnan(s) for s in scores)
        assert np.unique(scores).size > 5


class TestManyBins:
    @settings(deadline=None)
    @given(st.lists(finite, min_size=1, max_size=40))
    def test_binary_search_path_agrees_with_rows(self, xs):
        edges = [float(e) for e in range(-20, 21, 2)]  # 21 edges: the searchsorted path
        bounds = [None, *edges, None]
        card = Scorecard.from_json(
            {
                "features": [
                    {
                        "indicator": "X1",
                        "kind": "numeric",
                        "bins": [
                            {"lo": lo, "hi": hi, "points": float(i)}
                            for i, (lo, hi) in enumerate(itertools.pairwise(bounds))
                        ],
                        "missing": {"points": -1},
                    }
                ]
            }
        )
        values = [*xs, *edges, None]
        scores, _ = card.score_frame(pl.DataFrame({"X1": pl.Series(values, dtype=pl.Float64)}))
        assert scores.tolist() == [card.score({"X1": v})[0] for v in values]
