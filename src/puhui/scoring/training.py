"""Training a scorecard from a labelled sample: optimal binning per indicator
(optbinning), weight of evidence, a logistic regression on the WOE columns, points by the
usual points-to-double-the-odds scaling; metrics on a stratified hold-out.

Pure functions of (feature frame, labels, feature kinds): the job runs them on the
snapshot rows of the bank's sample, the tests on synthetic data whose true function is
known. Nothing here touches the database.

Invariants
- ``bad`` is 1 for a bad outcome, 0 for a good one; a higher score is a better risk.
- The hold-out never takes part in binning, selection or fitting; the reported AUC, KS
  and Gini are measured on it with the exported scorecard itself (rounded points), so
  they describe what the platform and the SQL export will actually score.
- A feature whose coefficient comes out with the wrong sign (more evidence of good,
  lower score) is dropped and the regression refitted: every points table is monotone in
  the evidence it was binned on.
- The population summary (bin shares and score deciles of the whole sample) is what the
  stability (PSI) report compares today's population with.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split

from puhui.core.i18n import N_
from puhui.scoring.errors import InvalidSample
from puhui.scoring.scorecard import Scorecard

MIN_ROWS = 200
MIN_CLASS = 30
CURVE_POINTS = 60


@dataclass(frozen=True)
class TrainingResult:
    scorecard: Scorecard
    metrics: dict[str, Any]  # auc, ks, gini (hold-out), train_auc, counts, curves
    binning: list[dict[str, Any]]  # one table per selected feature
    population: dict[str, Any]  # the sample's bin shares and score deciles (PSI baseline)
    holdout_rows: np.ndarray  # row numbers of the hold-out (for tests and audits)


def train(
    frame: pl.DataFrame,
    bad: np.ndarray,
    kinds: Mapping[str, str],
    *,
    names: Mapping[str, str] | None = None,
    seed: int = 20261127,
    holdout: float = 0.3,
    base_points: float = 600.0,
    base_odds: float = 50.0,
    pdo: float = 20.0,
    max_features: int = 15,
    min_iv: float = 0.02,
) -> TrainingResult:
    """Fit a scorecard on ``frame`` (a column per candidate indicator, ``kinds`` saying
    numeric or categorical) and the labels ``bad``."""
    bad = np.asarray(bad, dtype=np.int8)
    n = frame.height
    n_bad = int(bad.sum())
    if n < MIN_ROWS:
        raise InvalidSample.at(
            "sample", N_("Training needs at least {min} matched rows; got {n}."), min=MIN_ROWS, n=n
        )
    if n_bad < MIN_CLASS or n - n_bad < MIN_CLASS:
        raise InvalidSample.at(
            "sample",
            N_("Training needs at least {min} good and {min} bad outcomes; got {good} and {bad}."),
            min=MIN_CLASS,
            good=n - n_bad,
            bad=n_bad,
        )
    rows = np.arange(n)
    fit_rows, test_rows = train_test_split(rows, test_size=holdout, random_state=seed, stratify=bad)
    fit_rows, test_rows = np.sort(fit_rows), np.sort(test_rows)
    y = bad[fit_rows]
    binned: dict[str, _Binned] = {}
    for code, kind in kinds.items():
        b = _bin(code, kind, frame.get_column(code), fit_rows, y)
        if b is not None and b.iv >= min_iv:
            binned[code] = b
    chosen = sorted(binned, key=lambda c: -binned[c].iv)[:max_features]
    if not chosen:
        raise InvalidSample.at(
            "sample",
            N_("No indicator separates good from bad outcomes in this sample (IV below {iv})."),
            iv=min_iv,
        )
    model, chosen = _fit(binned, chosen, fit_rows, y)
    factor = pdo / math.log(2)
    offset = base_points - factor * math.log(base_odds)
    intercept = float(model.intercept_[0])
    coefs = dict(zip(chosen, model.coef_[0], strict=True))
    features, reasons = [], {}
    for code in chosen:
        b = binned[code]
        pts = [round(-factor * coefs[code] * w, 2) for w in b.woe]
        features.append(b.feature_json(pts))
        reasons[_reason_code(code)] = (names or {}).get(code) or code
    card = Scorecard.from_json(
        {
            "base_points": round(offset - factor * intercept, 2),
            "features": features,
            "reasons": reasons,
            "max_reasons": 4,
        }
    )
    bins = card.bin_indices(frame.select(chosen))
    scores = card.points_of(bins)
    metrics = _metrics(bad, scores, fit_rows, test_rows)
    metrics["coefficients"] = {c: float(coefs[c]) for c in chosen}
    metrics["intercept"] = intercept
    metrics["candidates"] = {c: round(binned[c].iv, 4) for c in binned}
    tables = [_table(card, j, bins[fit_rows, j], y, binned[c]) for j, c in enumerate(chosen)]
    return TrainingResult(
        scorecard=card,
        metrics=metrics,
        binning=tables,
        population=population(card, bins, scores),
        holdout_rows=test_rows,
    )


# --- binning ---------------------------------------------------------------------------------


@dataclass
class _Binned:
    code: str
    kind: str
    splits: list[Any]  # numeric: inner edges; categorical: value groups
    woe: list[float]  # per bin: value bins, missing (, other)
    iv: float
    column: np.ndarray  # WOE of every row of the frame

    def feature_json(self, points: list[float]) -> dict[str, Any]:
        reason = _reason_code(self.code)
        best = max(points)

        def one(p: float) -> dict[str, Any]:
            return {"points": p, **({"reason": reason} if p < best else {})}

        if self.kind == "numeric":
            bounds = [None, *self.splits, None]
            bins = [
                {"lo": lo, "hi": hi, **one(p)}
                for lo, hi, p in zip(bounds, bounds[1:], points, strict=False)
            ]
            return {
                "indicator": self.code,
                "kind": "numeric",
                "bins": bins,
                "missing": one(points[len(bins)]),
            }
        groups = self.splits
        return {
            "indicator": self.code,
            "kind": "categorical",
            "bins": [{"values": g, **one(p)} for g, p in zip(groups, points, strict=False)],
            "missing": one(points[len(groups)]),
            "other": one(points[len(groups) + 1]),
        }


def _values(kind: str, column: pl.Series) -> np.ndarray:
    if column.dtype == pl.Boolean:
        column = column.cast(pl.Int8)
    if kind == "numeric":
        return column.cast(pl.Float64).fill_null(np.nan).to_numpy()
    return np.asarray(column.cast(pl.String).to_list(), dtype=object)


def _bin(
    code: str, kind: str, column: pl.Series, fit_rows: np.ndarray, y: np.ndarray
) -> _Binned | None:
    from optbinning import OptimalBinning

    x = _values(kind, column)
    xf = x[fit_rows]
    present = ~_missing(xf)
    if present.sum() < MIN_CLASS or len(set(xf[present].tolist())) < 2:
        return None
    optb = OptimalBinning(
        name=code,
        dtype="numerical" if kind == "numeric" else "categorical",
        solver="cp",
        monotonic_trend="auto_asc_desc" if kind == "numeric" else None,
        max_n_prebins=20,
        min_prebin_size=0.02,
        cat_cutoff=0.02 if kind != "numeric" else None,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optb.fit(np.where(_missing(xf), np.nan, xf) if kind != "numeric" else xf, y)
    if kind == "numeric":
        splits: list[Any] = [float(s) for s in optb.splits]
        edges = np.asarray(splits, dtype=np.float64)
        idx = np.searchsorted(edges, np.where(np.isnan(x), 0, x), side="right")
        idx[np.isnan(x)] = len(splits) + 1
        n_bins = len(splits) + 2
    else:
        groups = [sorted(str(v) for v in g) for g in optb.splits]
        groups = [g for g in groups if g]
        lookup = {v: i for i, g in enumerate(groups) for v in g}
        n_bins = len(groups) + 2
        idx = np.array(
            [len(groups) if v is None else lookup.get(str(v), len(groups) + 1) for v in x.tolist()],
            dtype=np.int64,
        )
        splits = groups
        if not groups:
            return None
    fi = idx[fit_rows]
    bad_n = np.bincount(fi, weights=y, minlength=n_bins)
    tot_n = np.bincount(fi, minlength=n_bins).astype(np.float64)
    good_n = tot_n - bad_n
    B, G = max(bad_n.sum(), 1.0), max(good_n.sum(), 1.0)
    woe = np.log(((good_n + 0.5) / G) / ((bad_n + 0.5) / B))
    woe[tot_n == 0] = 0.0  # no evidence: neutral
    iv = float(np.sum((good_n / G - bad_n / B) * woe))
    return _Binned(code=code, kind=kind, splits=splits, woe=woe.tolist(), iv=iv, column=woe[idx])


def _missing(x: np.ndarray) -> np.ndarray:
    if x.dtype == object:
        return np.array([v is None for v in x.tolist()], dtype=bool)
    out: np.ndarray = np.isnan(x)
    return out


def _fit(
    binned: dict[str, _Binned], chosen: list[str], fit_rows: np.ndarray, y: np.ndarray
) -> tuple[Any, list[str]]:
    """Fit on the WOE columns; drop wrong-signed features until every sign is right."""
    while True:
        x = np.column_stack([binned[c].column[fit_rows] for c in chosen])
        model = LogisticRegression(C=1.0, max_iter=2000)
        model.fit(x, y)
        wrong = [c for c, b in zip(chosen, model.coef_[0], strict=True) if b > 0]
        if not wrong or len(chosen) == 1:
            return model, chosen
        chosen = [c for c in chosen if c not in wrong]


def _reason_code(code: str) -> str:
    text = re.sub(r"[^A-Za-z0-9_]", "_", code)[:32]
    return text if text[:1].isalpha() else f"R{text}"[:32]


# --- metrics and reports ---------------------------------------------------------------------


def ks_statistic(bad: np.ndarray, scores: np.ndarray) -> float:
    """Kolmogorov-Smirnov: the largest gap between the bad and good score distributions."""
    fpr, tpr, _ = roc_curve(bad, -scores)
    return float(np.max(np.abs(tpr - fpr)))


def _metrics(
    bad: np.ndarray, scores: np.ndarray, fit_rows: np.ndarray, test_rows: np.ndarray
) -> dict[str, Any]:
    yt, st = bad[test_rows], scores[test_rows]
    auc = float(roc_auc_score(yt, -st))
    fpr, tpr, _ = roc_curve(yt, -st)
    pick = np.unique(np.linspace(0, fpr.size - 1, min(CURVE_POINTS, fpr.size)).astype(int))
    deciles = np.quantile(st, np.linspace(0, 1, 11))
    cum_bad = [float(np.mean(st[yt == 1] <= q)) for q in deciles]
    cum_good = [float(np.mean(st[yt == 0] <= q)) for q in deciles]
    return {
        "auc": round(auc, 4),
        "ks": round(ks_statistic(yt, st), 4),
        "gini": round(2 * auc - 1, 4),
        "train_auc": round(float(roc_auc_score(bad[fit_rows], -scores[fit_rows])), 4),
        "n_train": int(fit_rows.size),
        "n_holdout": int(test_rows.size),
        "bad_train": int(bad[fit_rows].sum()),
        "bad_holdout": int(yt.sum()),
        "roc": [[round(float(fpr[i]), 4), round(float(tpr[i]), 4)] for i in pick],
        "ks_curve": {
            "score": [round(float(q), 2) for q in deciles],
            "bad": [round(x, 4) for x in cum_bad],
            "good": [round(x, 4) for x in cum_good],
        },
    }


def _table(card: Scorecard, j: int, bins: np.ndarray, y: np.ndarray, b: _Binned) -> dict[str, Any]:
    f = card.feature_specs[j]
    labels = [x.label() for x in f.bins] + ["missing"] + (["other"] if f.other else [])
    n_bins = len(labels)
    tot = np.bincount(bins, minlength=n_bins)
    bads = np.bincount(bins, weights=y, minlength=n_bins)
    rows = []
    for i, (label, pts) in enumerate(zip(labels, (x.points for x in f.all_bins), strict=True)):
        rows.append(
            {
                "bin": label,
                "count": int(tot[i]),
                "share": round(float(tot[i] / max(tot.sum(), 1)), 4),
                "bad": int(bads[i]),
                "bad_rate": round(float(bads[i] / tot[i]), 4) if tot[i] else None,
                "woe": round(float(b.woe[i]), 4),
                "points": pts,
            }
        )
    return {"indicator": f.indicator, "iv": round(b.iv, 4), "rows": rows}


def population(card: Scorecard, bins: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Bin shares per feature and the score deciles' edges of a population."""
    edges: np.ndarray = (
        np.unique(np.quantile(scores, np.linspace(0, 1, 11))[1:-1]) if scores.size else np.zeros(0)
    )
    return {
        "n": int(scores.size),
        "features": {
            f.indicator: shares(bins[:, j], len(f.all_bins))
            for j, f in enumerate(card.feature_specs)
        },
        "score_edges": [float(e) for e in edges],
        "score_shares": shares(
            np.searchsorted(np.asarray(edges, dtype=np.float64), scores, side="right"),
            len(edges) + 1,
        ),
    }


def shares(idx: np.ndarray, n: int) -> list[float]:
    counts = np.bincount(idx.astype(np.int64), minlength=n)[:n].astype(np.float64)
    total = counts.sum()
    return (counts / total).round(6).tolist() if total else [0.0] * n


def psi(expected: list[float], actual: list[float], floor: float = 1e-4) -> float:
    """Population stability index: sum of (a - e) * ln(a / e), empty shares floored."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), floor)
    a = np.maximum(np.asarray(actual, dtype=np.float64), floor)
    return float(np.sum((a - e) * np.log(a / e)))
