"""Retention of negative records: runs, their end, the personal and enterprise windows,
and the scheduled job retracting expired records from the profile and the snapshot
(tested with a frozen clock)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from puhui.config import Settings
from puhui.core import jobs, orm
from puhui.entities import service as entities
from puhui.ingest import service as ingest
from puhui.profile import retention
from puhui.profile.tasks import RETENTION_JOB
from tests.city import drain
from tests.profile.test_profile import _grant

PERSONAL, ENTERPRISE = 7, 8


def _rows(points: list[tuple[int, int, int, float | None]]) -> pl.LazyFrame:
    return pl.DataFrame(
        {
            "entity_id": [p[0] for p in points],
            "indicator_id": [p[1] for p in points],
            "period": [p[2] for p in points],
            "value_num": [p[3] for p in points],
            "value_text": [None] * len(points),
        },
        schema_overrides={"value_num": pl.Float64, "value_text": pl.String},
    ).lazy()


def _expired(points, now, personal_years=5, enterprise_years=5) -> list[tuple[int, int, int]]:
    out = retention.expired_observations(
        _rows(points),
        personal_ids={PERSONAL},
        enterprise_ids={ENTERPRISE},
        now=now,
        personal_years=personal_years,
        enterprise_years=enterprise_years,
    )
    return list(out.select("entity_id", "indicator_id", "period").iter_rows())


class TestRule:
    def test_a_record_expires_at_the_first_instant_after_five_years_from_its_end(self):
        points = [(1, PERSONAL, 202001, 1.0), (1, PERSONAL, 202003, 1.0)]
        assert _expired(points, datetime(2025, 3, 31, 23, 59, tzinfo=UTC)) == []
        assert _expired(points, datetime(2025, 4, 1, tzinfo=UTC)) == [
            (1, PERSONAL, 202001),
            (1, PERSONAL, 202003),
        ]

    def test_a_cleared_observation_ends_the_run_and_a_later_record_is_a_new_one(self):
        points = [
            (1, ENTERPRISE, 201801, 2.0),
            (1, ENTERPRISE, 201802, 0.0),
            (1, ENTERPRISE, 202401, 1.0),
        ]
        # the 2018 record expired in 2023-03; the 2024 one is still shown
        assert _expired(points, datetime(2026, 1, 1, tzinfo=UTC)) == [(1, ENTERPRISE, 201801)]

    def test_a_record_still_reported_has_not_ended(self):
        points = [(2, PERSONAL, 201801, 1.0), (2, PERSONAL, 202512, 1.0)]
        assert _expired(points, datetime(2026, 1, 1, tzinfo=UTC)) == []

    def test_enterprise_retention_is_configurable_and_separate(self):
        points = [(1, PERSONAL, 202001, 1.0), (1, ENTERPRISE, 202001, 1.0)]
        now = datetime(2025, 6, 1, tzinfo=UTC)
        assert _expired(points, now, enterprise_years=10) == [(1, PERSONAL, 202001)]
        assert _expired(points, now, personal_years=5, enterprise_years=3) == [
            (1, PERSONAL, 202001),
            (1, ENTERPRISE, 202001),
        ]

    @given(
        st.lists(st.sampled_from([None, 0.0, 1.0, 3.0]), min_size=1, max_size=30),
        st.integers(0, 200),
        st.integers(1, 5),
    )
    def test_exactly_the_hits_of_runs_that_ended_long_enough_ago_expire(self, values, at, years):
        periods = [(2000 + i // 12) * 100 + i % 12 + 1 for i in range(len(values))]
        points = [(1, PERSONAL, p, v) for p, v in zip(periods, values, strict=True)]
        now_index = 2000 * 12 + at
        now = datetime(now_index // 12, now_index % 12 + 1, 1, tzinfo=UTC)
        expected = []
        for i, v in enumerate(values):
            if not v:
                continue
            j = i
            while j + 1 < len(values) and values[j + 1]:
                j += 1
            if j + 1 + 12 * years <= at:
                expected.append((1, PERSONAL, periods[i]))
        assert _expired(points, now, personal_years=years) == expected

    def test_personal_retention_may_not_exceed_five_years(self):
        with pytest.raises(ValidationError):
            Settings(retention_personal_negative_years=6)
        with pytest.raises(ValidationError):
            Settings(retention_enterprise_negative_years=0)


def _negatives(city) -> dict[str, dict]:
    p = city.client.get(f"/api/v1/entities/{city.a}/profile", headers=city.h("cm_a")).json()
    return {n["code"]: n for n in p["negative_records"]}


def _run_job(city, monkeypatch, now: datetime) -> None:
    monkeypatch.setattr(orm, "utcnow", lambda: now)
    with city.factory.begin() as s:
        jobs.enqueue(s, RETENTION_JOB, {})
    drain(city.factory)  # the job reads the frozen clock
    monkeypatch.undo()


def _snapshot_value(city, code: str):
    with city.factory() as s:
        entity_id = entities.ids_for(s, [city.a])[city.a]
    view = ingest.open_snapshot(city.settings).current()
    return view.column(code)[entity_id]


class TestScheduledJob:
    def test_expired_records_leave_the_profile_and_the_snapshot(self, city, monkeypatch):
        _grant(city)
        before = _negatives(city)
        assert {"NEG_ABNORMAL_OPERATION", "NEG_ADMIN_PENALTIES_36M"} <= set(before)

        # 2026-07 ended the abnormal-operation record: expires at 2031-08-01
        _run_job(city, monkeypatch, datetime(2031, 7, 31, 23, 0, tzinfo=UTC))
        assert set(_negatives(city)) == set(before)

        _run_job(city, monkeypatch, datetime(2031, 8, 1, tzinfo=UTC))
        after = _negatives(city)
        assert "NEG_ABNORMAL_OPERATION" not in after
        assert "NEG_ADMIN_PENALTIES_36M" in after  # ends 2026-09: expires 2031-10
        assert _snapshot_value(city, "NEG_ADMIN_PENALTIES_36M") == 1

        _run_job(city, monkeypatch, datetime(2031, 10, 1, tzinfo=UTC))
        assert _negatives(city) == {}
        # nor does the snapshot (what filters read; downloads leave retracted rows out)
        assert _snapshot_value(city, "NEG_ADMIN_PENALTIES_36M") is None

    def test_personal_and_enterprise_records_expire_by_their_own_windows(
        self, city, monkeypatch, tmp_path
    ):
        """The legal representative's dishonest record (personal: 5 years) and a
        court penalty of the enterprise (its window set to 8 years here) end the same month;
        five years on, only the personal one is gone."""
        from tests.city import _csv

        path = _csv(tmp_path, "spc.csv", [f"{city.a},NEG_LEGAL_REP_DISHONEST,2026-09,1"])
        out = ingest.ingest_path(
            city.factory, source_code="SPC", path=path, actor=None, via="cli",
            settings=city.settings,
        )  # fmt: skip
        assert out.status == "committed"
        drain(city.factory)
        _grant(city)
        assert {"NEG_LEGAL_REP_DISHONEST", "NEG_ADMIN_PENALTIES_36M"} <= set(_negatives(city))
        monkeypatch.setattr(city.settings, "retention_enterprise_negative_years", 8)
        _run_job(city, monkeypatch, datetime(2031, 10, 1, tzinfo=UTC))
        after = _negatives(city)
        assert "NEG_LEGAL_REP_DISHONEST" not in after
        assert "NEG_ADMIN_PENALTIES_36M" in after  # an enterprise's: 8 years
        assert _snapshot_value(city, "NEG_LEGAL_REP_DISHONEST") is None
        assert _snapshot_value(city, "NEG_ADMIN_PENALTIES_36M") == 1

    def test_the_job_is_idempotent(self, city):
        now = datetime(2032, 1, 1, tzinfo=UTC)
        first = retention.expire_negative_records(city.factory, now=now, settings=city.settings)
        assert first.records == 2 and first.observations == 2 and first.batch_id
        drain(city.factory)
        again = retention.expire_negative_records(city.factory, now=now, settings=city.settings)
        assert again.records == 0 and again.batch_id is None
