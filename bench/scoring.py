"""Batch scoring at city scale: 1.38 M entities × a 12-feature scorecard.

A synthetic frame in the snapshot's column types (``PUHUI_BENCH_SCORING_ENTITIES`` rows,
default 1 380 000; a fifth of the cells empty) is scored by:

- the service's path, ``Scorecard.score_array``: per feature one ``np.searchsorted`` on
  the bin edges (or one code → bin lookup) and one points lookup — the target is ≤ 1 s;
- the same plus reason codes (``Scorecard.score_frame``) and the batch job's ranking
  (``lexsort`` by score, then id) — what a batch run costs before writing its file;
- baseline, same run: the card as one Polars expression (``when/then`` chains summed);
- naive, same run: ``Scorecard.score`` row by row in Python on a 20 000-row slice,
  extrapolated to the whole population.

Every engine must give the same scores (checked). Figures: best of ``REPEAT`` runs and
ratios against the Polars baseline.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import polars as pl

N = int(os.environ.get("PUHUI_BENCH_SCORING_ENTITIES", "1380000"))
REPEAT = int(os.environ.get("PUHUI_BENCH_SCORING_REPEAT", "5"))
NAIVE_ROWS = 20_000
EMPTY_SHARE = 0.2
GRADES = ["A", "B", "M", "C", "D"]
CREDIT = ["AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C"]


def _numeric(code: str, edges: list[float], points: list[float], reason: str) -> dict[str, Any]:
    bounds: list[float | None] = [None, *edges, None]
    best = max(points)
    bins = [
        {"lo": lo, "hi": hi, "points": p, **({"reason": reason} if p < best else {})}
        for lo, hi, p in zip(bounds, bounds[1:], points, strict=False)
    ]
    return {
        "indicator": code,
        "kind": "numeric",
        "bins": bins,
        "missing": {"points": min(points) - 5, "reason": reason},
    }


def _card() -> dict[str, Any]:
    features = [
        _numeric("OPR_TAX_TOTAL_12M", [1e4, 5e4, 2e5, 1e6], [-30, -10, 5, 20, 35], "TAX"),
        _numeric("OPR_TAX_TOTAL_YOY", [-0.3, -0.05, 0.05, 0.3], [-25, -8, 0, 10, 18], "TAXG"),
        _numeric("OPR_INV_SALES_12M", [1e5, 1e6, 1e7], [-20, 0, 12, 25], "SALES"),
        _numeric("OPR_SS_HEADCOUNT_M", [3, 10, 50, 200], [-15, -3, 6, 12, 15], "STAFF"),
        _numeric("OPR_POWER_YOY", [-0.2, 0.0, 0.2], [-12, -2, 4, 8], "POWER"),
        _numeric("BAS_AGE_YEARS", [1, 3, 8, 15], [-20, -8, 4, 10, 14], "AGE"),
        _numeric("FIN_DEBT_RATIO", [0.3, 0.6, 0.8], [15, 5, -10, -30], "DEBT"),
        _numeric("NEG_RECORDS_TOTAL", [1, 3], [20, -25, -50], "NEG"),
        _numeric("FIN_LENDING_BANKS", [1, 3, 5], [6, 10, 0, -20], "BANKS"),
        {
            "indicator": "OPR_TAX_CREDIT_GRADE",
            "kind": "categorical",
            "bins": [
                {"values": ["A"], "points": 30},
                {"values": ["B"], "points": 12},
                {"values": ["M", "C", "D"], "points": -25, "reason": "GRADE"},
            ],
            "missing": {"points": -5, "reason": "GRADE"},
        },
        {
            "indicator": "CRE_CREDIT_GRADE",
            "kind": "categorical",
            "bins": [
                {"values": ["AAA", "AA", "A"], "points": 25},
                {"values": ["BBB", "BB"], "points": 5},
                {"values": ["B", "CCC", "CC", "C"], "points": -30, "reason": "CREDIT"},
            ],
            "missing": {"points": 0},
        },
        {
            "indicator": "NEG_ABNORMAL_OPERATION",
            "kind": "categorical",
            "bins": [
                {"values": ["1"], "points": -40, "reason": "ABNORMAL"},
                {"values": ["0"], "points": 5},
            ],
            "missing": {"points": 0},
        },
    ]
    codes = {b.get("reason") for f in features for b in [*f["bins"], f["missing"]]}
    return {
        "base_points": 600,
        "features": features,
        "cutoffs": [{"label": "approve", "min_score": 650}, {"label": "review", "min_score": 600}],
        "reasons": {c: f"reason {c}" for c in codes if c},
    }


def _frame(n: int) -> pl.DataFrame:
    rng = np.random.default_rng(5)

    def empty(s: pl.Series) -> pl.Series:
        return s.scatter(np.flatnonzero(rng.random(n) < EMPTY_SHARE), None)

    def f32(x: np.ndarray) -> pl.Series:
        return empty(pl.Series(x.astype(np.float32)))

    def i32(x: np.ndarray) -> pl.Series:
        return empty(pl.Series(x.astype(np.int32)))

    cols = {
        "OPR_TAX_TOTAL_12M": f32(rng.lognormal(11, 1.5, n)),
        "OPR_TAX_TOTAL_YOY": f32(rng.normal(0.05, 0.3, n)),
        "OPR_INV_SALES_12M": f32(rng.lognormal(13.5, 1.6, n)),
        "OPR_SS_HEADCOUNT_M": i32(rng.poisson(12, n)),
        "OPR_POWER_YOY": f32(rng.normal(0, 0.2, n)),
        "BAS_AGE_YEARS": f32(rng.gamma(2, 4, n)),
        "FIN_DEBT_RATIO": f32(rng.beta(2, 3, n)),
        "NEG_RECORDS_TOTAL": i32(rng.poisson(0.3, n)),
        "FIN_LENDING_BANKS": i32(rng.poisson(1.2, n)),
        "OPR_TAX_CREDIT_GRADE": empty(
            pl.Series(rng.choice(GRADES, n).tolist(), dtype=pl.Enum(GRADES))
        ),
        "CRE_CREDIT_GRADE": empty(pl.Series(rng.choice(CREDIT, n).tolist(), dtype=pl.Enum(CREDIT))),
        "NEG_ABNORMAL_OPERATION": empty(pl.Series(rng.random(n) < 0.05)),
    }
    return pl.DataFrame(cols)


def _polars_expr(card: Any, schema: pl.Schema) -> pl.Expr:
    """The scorecard as one Polars expression: the baseline a Polars user would write."""
    parts = [pl.lit(float(card.base_points))]
    for f in card.feature_specs:
        col = pl.col(f.indicator)
        if f.kind == "numeric":
            col = col.cast(pl.Float64)
            chain = pl.when(col.is_null()).then(pl.lit(f.missing.points))
            for b in f.bins[:-1]:
                chain = chain.when(col < b.hi).then(pl.lit(b.points))
            parts.append(chain.otherwise(pl.lit(f.bins[-1].points)))
        else:
            if schema[f.indicator] == pl.Boolean:
                col = col.cast(pl.Int8)
            col = col.cast(pl.String)
            chain = pl.when(col.is_null()).then(pl.lit(f.missing.points))
            for b in f.bins:
                chain = chain.when(col.is_in(list(b.values))).then(pl.lit(b.points))
            parts.append(chain.otherwise(pl.lit((f.other or f.missing).points)))
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total.alias("score")


def _best(fn: Any) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(REPEAT):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run() -> dict[str, Any]:
    from puhui.scoring.scorecard import Scorecard

    card = Scorecard.from_json(_card())
    t0 = time.perf_counter()
    frame = _frame(N)
    print(
        f"scoring: {N:,} entities × {len(card.features)} features "
        f"(frame ready in {time.perf_counter() - t0:.1f} s)"
    )
    expr = _polars_expr(card, frame.schema)
    numpy_s, scores = _best(lambda: card.score_array(frame))
    polars_s, base = _best(lambda: frame.select(expr).to_series().to_numpy())
    assert np.allclose(scores, base, atol=1e-9), "numpy and polars disagree"

    ids = np.arange(N)

    def batch() -> int:
        bins = card.bin_indices(frame)
        s = card.points_of(bins)
        order = np.lexsort((ids, -s))
        lists, which = card.reason_table(bins[order])
        return len(lists) + which.size

    batch_s, _ = _best(batch)
    part = frame.head(NAIVE_ROWS)
    rows = part.to_dicts()
    t = time.perf_counter()
    naive = [card.score(r)[0] for r in rows]
    naive_s = (time.perf_counter() - t) * N / NAIVE_ROWS
    assert np.allclose(naive, scores[:NAIVE_ROWS], atol=1e-9), "row scoring disagrees"

    figures = {
        "entities": N,
        "features": len(card.features),
        "numpy_score_s": round(numpy_s, 3),
        "polars_expr_s": round(polars_s, 3),
        "batch_with_reasons_and_rank_s": round(batch_s, 3),
        "naive_rows_extrapolated_s": round(naive_s, 1),
        "numpy_vs_polars": round(numpy_s / polars_s, 2),
        "naive_vs_numpy": round(naive_s / numpy_s, 1),
        "target_numpy_score_s": 1.0,
    }
    print(
        f"  numpy {numpy_s:.3f} s · polars expression {polars_s:.3f} s "
        f"(numpy/polars {figures['numpy_vs_polars']}) · with reasons + ranking {batch_s:.2f} s"
        f" · naive row by row ≈ {naive_s:.0f} s ({figures['naive_vs_numpy']}× numpy)"
    )
    return figures
