"""Data quality: freshness against each source's schedule, rejection rates and reasons
from the known batches, and the share of entities with a value per category, checked
against an independent count over the snapshot's values."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.core.orm import utcnow
from puhui.ingest import service as ingest
from puhui.quality import service


def _report(town, **kw):
    with town.factory() as s:
        return service.data_quality(s, settings=town.settings, **kw)


class TestSources:
    def test_rejections_and_reasons_of_each_source(self, activity):
        report = _report(activity.town)
        tax = next(s for s in report.sources if s.code == "TAX")
        assert (tax.batches, tax.rejected_batches) == (2, 0)
        assert (tax.rows_total, tax.rows_rejected) == (12, 4)
        assert tax.rejection_rate == 0.3333
        assert [(r.reason, r.count) for r in tax.top_reasons] == [
            ("unknown_entity", 2),
            ("bad_period", 1),
            ("unknown_indicator", 1),
        ]
        assert tax.top_reasons[0].label  # the reason in words
        hrss = next(s for s in report.sources if s.code == "HRSS")
        assert (hrss.rows_total, hrss.rows_rejected, hrss.rejection_rate) == (3, 0, 0.0)
        assert hrss.state == "on_time" and hrss.overdue_days == 0

    def test_a_source_that_never_sent_anything(self, activity):
        report = _report(activity.town)
        court = next(s for s in report.sources if s.code == "COURT")
        assert (court.state, court.last_batch_at, court.overdue_days) == ("never", None, None)
        assert (court.batches, court.rows_total, court.rejection_rate) == (0, 0, None)

    def test_overdue_against_the_schedule(self, activity):
        report = _report(activity.town, now=utcnow() + timedelta(days=40))
        hrss = next(s for s in report.sources if s.code == "HRSS")  # monthly: 31 days
        assert hrss.state == "overdue" and hrss.overdue_days == 9
        assert hrss.due_at == hrss.last_batch_at + timedelta(days=31)
        # the window moved on: no batches in the last 90 days... of that later date? still
        assert hrss.batches == 1

    def test_a_short_window_leaves_older_batches_out(self, activity):
        report = _report(activity.town, days=1, now=utcnow() + timedelta(days=5))
        tax = next(s for s in report.sources if s.code == "TAX")
        assert (tax.batches, tax.rows_total, tax.rejection_rate, tax.top_reasons) == (
            0,
            0,
            None,
            [],
        )
        assert tax.last_batch_at is not None  # freshness looks at every batch ever


class TestCategories:
    def test_share_of_entities_with_a_value_per_category(self, activity):
        town = activity.town
        report = _report(town)
        assert report.entities == 3  # A, B and C
        cats = {c.category: c for c in report.categories}
        assert (cats["operating"].entities_with_value, cats["operating"].share) == (2, 0.6667)
        assert (cats["negative"].entities_with_value, cats["negative"].share) == (1, 0.3333)
        assert (cats["property"].entities_with_value, cats["property"].share) == (0, 0.0)
        # an independent count over the values themselves
        view = ingest.open_snapshot(town.settings).current()
        for category, c in cats.items():
            codes = [s.code for s in view.indicators if s.category == category]
            assert c.indicators == len(codes)
            if not codes:
                continue
            frame = view.frame(codes)
            with_value = frame.select(pl.any_horizontal(pl.all().is_not_null()).sum()).item()
            assert c.entities_with_value == with_value
            fills = sum(frame.get_column(code).is_not_null().sum() for code in codes)
            assert c.fill_rate == round(fills / 3 / len(codes), 4)

    def test_before_the_first_snapshot_the_categories_are_empty(self, settings, session, tmp_path):
        empty = settings.model_copy(update={"data_dir": tmp_path})
        report = service.data_quality(session, settings=empty)
        assert report.snapshot_version is None
        assert [(c.indicators, c.share) for c in report.categories] == [(0, None)] * 7


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=70).flatmap(
        lambda n: st.lists(
            st.lists(
                st.one_of(st.none(), st.floats(allow_nan=False, width=32)), min_size=n, max_size=n
            ),
            min_size=1,
            max_size=5,
        )
    ),
    st.integers(min_value=0, max_value=9),
)
def test_valid_rows_counts_what_a_plain_or_counts(columns, offset):
    """The bitmap OR agrees with the obvious count, whatever the nulls, lengths and
    slicing (a sliced column has a non-zero offset in its bitmap)."""
    n = len(columns[0])
    series = [
        pl.Series(f"c{i}", [None] * offset + c, dtype=pl.Float32) for i, c in enumerate(columns)
    ]
    series = [s.slice(offset) for s in series]
    rows, per_column = service.valid_rows(series, n)
    assert rows == sum(any(c[i] is not None for c in columns) for i in range(n))
    assert per_column == [sum(v is not None for v in c) for c in columns]


class TestApi:
    def test_api_csv_and_bad_days(self, activity):
        town = activity.town
        r = town.client.get("/api/v1/quality/data?days=30", headers=town.h("operator"))
        assert r.status_code == 200, r.text
        tax = next(s for s in r.json()["sources"] if s["code"] == "TAX")
        assert (tax["rows_total"], tax["rows_rejected"]) == (12, 4)
        r = town.client.get("/api/v1/quality/data.csv", headers=town.h("regulator"))
        assert r.status_code == 200
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
        tax_row = next(x for x in rows if x["kind"] == "source" and x["code"] == "TAX")
        assert tax_row["rejection_rate_or_share"] == "0.3333"
        assert tax_row["top_reasons"] == "unknown_entity=2; bad_period=1; unknown_indicator=1"
        op = next(x for x in rows if x["kind"] == "category" and x["code"] == "operating")
        assert (op["rejected_or_with_value"], op["rejection_rate_or_share"]) == ("2", "0.6667")
        for bad in ("0", "-3", "x"):
            r = town.client.get(f"/api/v1/quality/data?days={bad}", headers=town.h("operator"))
            assert r.status_code == 422 and "days" in r.text
