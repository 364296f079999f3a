"""The vectorised rule engine against a plain-Python reference, and its edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.monitoring import engine
from puhui.monitoring.engine import KINDS, OPS, Pairs, RuleSpec

NAN = float("nan")


def _spec(kind, op="gt", threshold=0.0, counts=False, rid=1, inst=1, ind=5):
    return RuleSpec(rid, inst, ind, kind, op, threshold, "high", counts_records=counts)


def _cmp(op, x, t):
    return {"gt": x > t, "ge": x >= t, "lt": x < t, "le": x <= t}[op]


def reference(value, prev, ago, spec) -> bool:
    """What the issue says each kind means, one row at a time."""

    def missing(x):
        return x is None or math.isnan(x)

    if spec.kind == "new_event":
        if missing(value) or value <= 0:
            return False
        return spec.counts_records or missing(prev) or prev <= 0
    if spec.kind == "threshold":
        x = value
    else:
        base = prev if spec.kind.startswith("change") else ago
        if missing(value) or missing(base):
            return False
        if spec.kind.endswith("_pct"):
            if base == 0:
                return False
            x = (value - base) / abs(base) * 100
        else:
            x = value - base
    return not missing(x) and _cmp(spec.op, x, spec.threshold)


class TestKinds:
    @pytest.mark.parametrize(
        ("kind", "op", "t", "value", "prev", "ago", "fires"),
        [
            ("threshold", "gt", 10, 11, NAN, NAN, True),
            ("threshold", "gt", 10, 10, NAN, NAN, False),
            ("threshold", "ge", 10, 10, NAN, NAN, True),
            ("threshold", "lt", 0, NAN, NAN, NAN, False),
            ("change_abs", "lt", -5, 10, 20, NAN, True),
            ("change_abs", "gt", 0, 10, NAN, NAN, False),
            ("change_pct", "le", -50, 5, 10, NAN, True),
            ("change_pct", "gt", 0, 5, 0, NAN, False),
            ("change_pct", "gt", 0, -5, -10, NAN, True),  # -5 is 50% above -10
            ("yoy_abs", "gt", 0, 5, 100, 4, True),
            ("yoy_pct", "lt", -30, 60, 100, 100, True),
            ("yoy_pct", "lt", -30, 60, 100, NAN, False),
        ],
    )
    def test_one_row(self, kind, op, t, value, prev, ago, fires):
        mask, _, _ = engine.fires(
            _spec(kind, op, t), np.array([value]), np.array([prev]), np.array([ago])
        )
        assert bool(mask[0]) is fires

    def test_new_event_of_a_flag_needs_a_change_and_of_a_count_a_positive_count(self):
        value = np.array([1.0, 1.0, 1.0, 0.0, NAN])
        prev = np.array([0.0, NAN, 1.0, 0.0, 0.0])
        ago = np.full(5, NAN)
        flag, _, _ = engine.fires(_spec("new_event"), value, prev, ago)
        count, _, _ = engine.fires(_spec("new_event", counts=True), value, prev, ago)
        assert flag.tolist() == [True, True, False, False, False]
        assert count.tolist() == [True, True, True, False, False]

    def test_unknown_kind_and_op_are_refused(self):
        one = np.array([1.0])
        with pytest.raises(ValueError):
            engine.fires(_spec("sideways"), one, one, one)
        with pytest.raises(ValueError):
            engine.fires(_spec("threshold", op="eq"), one, one, one)


rows = st.lists(
    st.tuples(
        st.integers(0, 30),  # entity
        st.sampled_from([5, 6]),  # indicator
        st.integers(202401, 202403),  # period
        st.one_of(st.just(NAN), st.floats(-100, 100, allow_nan=False)),
        st.one_of(st.just(NAN), st.floats(-100, 100, allow_nan=False)),
        st.one_of(st.just(NAN), st.floats(-100, 100, allow_nan=False)),
    ),
    max_size=60,
    unique_by=lambda r: (r[0], r[1], r[2]),
)
specs = st.lists(
    st.builds(
        RuleSpec,
        id=st.integers(1, 1000),
        institution_id=st.sampled_from([1, 2]),
        indicator_id=st.sampled_from([5, 6, 7]),
        kind=st.sampled_from(KINDS),
        op=st.sampled_from(OPS),
        threshold=st.floats(-50, 50, allow_nan=False),
        severity=st.just("high"),
        counts_records=st.booleans(),
    ),
    max_size=6,
    unique_by=lambda s: s.id,
)


class TestAgainstTheReference:
    @settings(max_examples=150, deadline=None)
    @given(
        rows=rows,
        rules=specs,
        watched1=st.sets(st.integers(0, 30)),
        watched2=st.sets(st.integers(0, 30)),
        snoozed=st.sets(st.integers(0, 30)),
    )
    def test_the_engine_fires_exactly_what_the_reference_says(
        self, rows, rules, watched1, watched2, snoozed
    ):
        pairs = (
            Pairs.build(*(list(c) for c in zip(*rows, strict=True)))
            if rows
            else Pairs.build([], [], [], [])
        )
        monitored = {
            1: np.array(sorted(watched1), np.int64),
            2: np.array(sorted(watched2), np.int64),
        }
        snooze = {r.id: np.array(sorted(snoozed), np.int64) for r in rules[:1]}
        hits = engine.evaluate(pairs, rules, monitored, snoozed=snooze)
        got = set(
            zip(hits.rule_id.tolist(), hits.entity_id.tolist(), hits.period.tolist(), strict=True)
        )
        want = set()
        for spec in rules:
            watched = watched1 if spec.institution_id == 1 else watched2
            for e, i, p, v, prev, ago in rows:
                if i != spec.indicator_id or e not in watched:
                    continue
                if spec.id in snooze and e in snoozed:
                    continue
                if reference(v, prev, ago, spec):
                    want.add((spec.id, e, p))
        assert got == want
        assert len(got) == len(hits)  # no (rule, entity, period) twice

    def test_many_watched_entities_take_the_dense_path(self):
        n = 10_000
        ids = np.arange(n)
        pairs = Pairs.build(ids, np.full(n, 5), np.full(n, 202401), ids.astype(float))
        hits = engine.evaluate(
            pairs, [_spec("threshold", "ge", 9_990)], {1: np.arange(0, n, 2, dtype=np.int64)}
        )
        assert sorted(hits.entity_id.tolist()) == [9990, 9992, 9994, 9996, 9998]


one_period_rows = st.lists(
    st.tuples(
        st.integers(0, 40),
        st.sampled_from([5, 6]),
        st.just(202401),
        st.one_of(st.just(NAN), st.floats(-100, 100, allow_nan=False)),
        st.one_of(st.just(NAN), st.floats(-100, 100, allow_nan=False)),
        st.one_of(st.just(NAN), st.floats(-100, 100, allow_nan=False)),
    ),
    max_size=80,
    unique_by=lambda r: (r[0], r[1]),
)


@settings(max_examples=150, deadline=None)
@given(rows=one_period_rows, rules=specs, watched=st.sets(st.integers(0, 45), max_size=6))
def test_the_position_map_path_agrees_with_the_reference(rows, rules, watched):
    """One period per pair and small watchlists: rows are found through the dense map."""
    if not rows:
        return
    pairs = Pairs.build(*(list(c) for c in zip(*rows, strict=True)))
    monitored = {1: np.array(sorted(watched), np.int64), 2: np.array(sorted(watched), np.int64)}
    hits = engine.evaluate(pairs, rules, monitored)
    got = set(zip(hits.rule_id.tolist(), hits.entity_id.tolist(), strict=True))
    want = {
        (spec.id, e)
        for spec in rules
        for e, i, _p, v, prev, ago in rows
        if i == spec.indicator_id and e in watched and reference(v, prev, ago, spec)
    }
    assert got == want
