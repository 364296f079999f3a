"""In-platform training on labels drawn from a known function of the indicators plus
noise: the fitted scorecard must come close to that function's own hold-out AUC."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from puhui.scoring import training
from puhui.scoring.errors import InvalidSample
from tests.scoring.synthetic import KINDS, sample


@pytest.fixture(scope="module")
def trained():
    frame, bad, z = sample(20_000)
    started = time.perf_counter()
    result = training.train(frame, bad, KINDS)
    return frame, bad, z, result, time.perf_counter() - started


class TestTraining:
    def test_recovers_the_true_functions_auc(self, trained):
        _frame, bad, z, result, _ = trained
        h = result.holdout_rows
        true_auc = roc_auc_score(bad[h], z[h])
        assert result.metrics["auc"] == pytest.approx(true_auc, abs=0.03)
        assert result.metrics["gini"] == pytest.approx(2 * result.metrics["auc"] - 1, abs=1e-3)
        assert 0.2 < result.metrics["ks"] < 1

    def test_metrics_are_those_of_the_exported_card(self, trained):
        frame, bad, _, result, _ = trained
        card = result.scorecard
        scores, _ = card.score_frame(frame.select(card.features))
        h = result.holdout_rows
        assert round(roc_auc_score(bad[h], -scores[h]), 4) == result.metrics["auc"]
        assert training.ks_statistic(bad[h], scores[h]) == pytest.approx(
            result.metrics["ks"], abs=1e-4
        )

    def test_informative_indicators_chosen_noise_left_out(self, trained):
        *_, result, _ = trained
        chosen = set(result.scorecard.features)
        assert {"OPR_TAX_TOTAL_12M", "OPR_TAX_CREDIT_GRADE", "NEG_RECORDS_TOTAL"} <= chosen
        assert "PRP_TRADEMARKS" not in chosen

    def test_points_follow_the_evidence(self, trained):
        *_, result, _ = trained
        for table in result.binning:
            rows = [r for r in table["rows"] if r["count"] >= 200]
            by_rate = sorted(rows, key=lambda r: r["bad_rate"])
            points = [r["points"] for r in by_rate]
            assert points == sorted(points, reverse=True), table["indicator"]

    def test_binning_tables_and_population(self, trained):
        frame, _, _, result, _ = trained
        for table in result.binning:
            assert sum(r["count"] for r in table["rows"]) == result.metrics["n_train"]
        pop = result.population
        assert pop["n"] == frame.height
        assert sum(pop["score_shares"]) == pytest.approx(1, abs=1e-4)
        for shares in pop["features"].values():
            assert sum(shares) == pytest.approx(1, abs=1e-4)

    def test_twenty_thousand_rows_train_in_seconds(self, trained):
        *_, seconds = trained
        assert seconds < 30

    def test_too_few_bad_outcomes_is_refused(self):
        frame, bad, _ = sample(1000)
        bad = np.zeros_like(bad)
        bad[:5] = 1
        with pytest.raises(InvalidSample):
            training.train(frame, bad, KINDS)


class TestPsi:
    def test_same_population_is_stable(self):
        assert training.psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0

    def test_shifted_population_is_not(self):
        assert training.psi([0.5, 0.5], [0.9, 0.1]) > 0.25
