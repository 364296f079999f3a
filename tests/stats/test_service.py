"""Every figure of the statistics, worked out by hand from the seeded activity
(tests/stats/helpers.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from puhui.stats import service
from puhui.stats.errors import DuplicateLpr, InvalidStatsInput
from puhui.stats.schemas import LprCreate, StatsRead, Tenor
from tests.stats.helpers import seed, sh


def _overview(session, first: int = 202003, last: int = 202005, locale: str = "en") -> StatsRead:
    return service.overview(session, first=first, last=last, locale=locale)


def _series(stats: StatsRead, key: str):
    return next(s for s in stats.series if s.key == key)


def _figure(stats: StatsRead, key: str):
    return next(f for f in stats.figures if f.key == key).value


@pytest.fixture
def seeded(session):
    world = seed(session)
    service.refresh(session, since_month=202001, now=sh(2020, 6, 15))
    return world


class TestFigures:
    def test_records_by_source_and_shanghai_month(self, session, seeded):
        s = _overview(session)
        rec = _series(s, "records")
        assert rec.months == ["2020-03", "2020-04", "2020-05"]
        assert rec.values == [1000, 800, 0]  # the 17:00 UTC batch is April in Shanghai
        assert rec.breakdown == {"TAXT": [1000, 500, 0], "SOCT": [0, 300, 0]}
        assert _figure(s, "records") == 1800

    def test_records_by_category(self, session, seeded):
        s = _overview(session, locale="en")
        cat = _series(s, "records_by_category")
        assert cat.values == [1000, 800, 0]  # the rejected batch's 99 are not counted
        assert cat.breakdown == {"Operating": [600, 800, 0], "Financial": [400, 0, 0]}
        assert _figure(s, "records_by_category") == 1800
        zh = _series(_overview(session, locale="zh_CN"), "records_by_category")
        assert set(zh.breakdown) == {"经营信息", "财务信息"}

    def test_queries_by_purpose_and_institution(self, session, seeded):
        s = _overview(session)
        assert _series(s, "queries").values == [2, 1, 0]
        assert _series(s, "queries").breakdown == {"query": [2, 0, 0], "monitoring": [0, 1, 0]}
        assert _series(s, "queries_by_institution").breakdown == {
            "统计一行": [2, 0, 0],
            "统计二行": [0, 1, 0],
        }
        assert _figure(s, "queries") == 3

    def test_demands_and_outcomes_by_channel(self, session, seeded):
        s = _overview(session)
        assert _series(s, "demands").values == [2, 2, 1]
        assert _series(s, "demands").breakdown["simple"] == [1, 0, 1]
        assert _series(s, "outcomes").values == [1, 3, 0]
        assert _series(s, "outcomes").breakdown == {"granted": [1, 2, 0], "declined": [0, 1, 0]}
        table = {(o.channel, o.status): o.demands for o in s.outcomes_by_channel}
        assert table == {
            ("registered", "granted"): 1,
            ("registered", "declined"): 1,
            ("simple", "granted"): 1,
            ("wechat", "granted"): 1,
        }

    def test_loans_amounts_enterprises_first_time(self, session, seeded):
        s = _overview(session)
        assert _series(s, "loans").values == [1, 2, 0]
        assert _series(s, "amount").values == [1_000_000, 800_000, 0]
        assert _series(s, "enterprises").values == [1, 2, 0]
        assert _series(s, "first_time").values == [1, 1, 0]  # e1's second loan is not first
        assert _series(s, "avg_amount").values == [1_000_000, 400_000, None]
        assert _figure(s, "loans") == 3
        assert _figure(s, "amount") == 1_800_000
        assert _figure(s, "enterprises") == 2  # distinct over the range, not 1 + 2
        assert _figure(s, "first_time") == 2
        assert _figure(s, "avg_amount") == 900_000

    def test_rates_and_spread_to_lpr(self, session, seeded):
        s = _overview(session)
        assert _series(s, "avg_rate").values == [4.5, 3.9, None]
        # March: 450 − 405; April: 390 − 385 (the 04-20 quote is in force on 04-30)
        assert _series(s, "lpr_spread").values == [45, 5, None]
        assert _figure(s, "avg_rate") == 4.1
        assert _figure(s, "lpr_spread") == round((45 + 10) / 3, 2)
        assert s.lpr_1y_bp == 385 and s.lpr_5y_bp == 465

    def test_median_days_from_demand_to_grant(self, session, seeded):
        s = _overview(session)
        assert _series(s, "median_days").values == [10, 19.5, None]
        assert _figure(s, "median_days") == 10

    def test_alerts_sms_downloads(self, session, seeded):
        s = _overview(session)
        assert _series(s, "alerts").values == [3, 1, 0]
        assert _series(s, "alert_entities").values == [2, 1, 0]
        assert _figure(s, "alert_entities") == 2
        assert _series(s, "sms").values == [1, 0, 0]
        assert _series(s, "downloads").values == [0, 0, 2]
        assert _series(s, "download_rows").values == [0, 0, 2000]
        assert _figure(s, "download_rows") == 2000

    def test_institutions_models_products_are_cumulative(self, session, seeded):
        s = _overview(session)
        assert _series(s, "institutions").values == [3, 3, 4]
        assert s.institutions_by_kind == {"Bank": 2, "Guarantor": 1, "Insurer": 1}
        assert _series(s, "models").values == [1, 1, 1]
        assert _series(s, "products").values == [0, 1, 1]  # a new policy version is no new product
        assert _series(s, "decisions").breakdown == {"approve": [0, 0, 1], "decline": [0, 0, 1]}

    def test_entities_recorded_as_of_the_refresh(self, session, seeded):
        s = _overview(session, 202004, 202006)
        entities = _series(s, "entities").values
        assert entities[:2] == [None, None] and entities[2] is not None and entities[2] >= 4
        assert _figure(s, "entities") == entities[2]

    def test_a_second_refresh_changes_nothing(self, session, seeded):
        before = _overview(session).model_dump(exclude={"refreshed_at"})
        service.refresh(session, since_month=202001, now=sh(2020, 6, 15))
        service.refresh(session, since_month=202004, now=sh(2020, 6, 15))
        assert _overview(session).model_dump(exclude={"refreshed_at"}) == before

    def test_months_before_since_are_left_alone(self, session, seeded):
        from puhui.stats.models import GrantFact

        service.refresh(session, since_month=202004, now=sh(2020, 6, 15))
        facts = session.query(GrantFact).order_by(GrantFact.granted_at).all()
        assert [(f.month, f.first_time, f.days) for f in facts] == [
            (202003, True, 10),
            (202004, True, 5) if facts[1].entity_id != facts[0].entity_id else (202004, False, 5),
            (202004, True, 34),
        ]

    def test_csv_of_a_series(self, session, seeded):
        text = service.series_csv(_overview(session), "records")
        assert text.splitlines() == [
            "\ufeffmonth,records,TAXT,SOCT",
            "2020-03,1000,1000,0",
            "2020-04,800,500,300",
            "2020-05,0,0,0",
        ]


class TestMonths:
    def test_defaults_to_twelve_months(self):
        assert service.month_range(None, None, now=sh(2020, 6, 15)) == (201907, 202006)
        assert service.month_range(None, "2018-03", now=sh(2020, 6, 15)) == (201801, 201803)

    @pytest.mark.parametrize(
        ("first", "last", "field"),
        [
            ("2020-13", None, "from"),
            ("2020-5", None, "from"),
            (None, "x", "to"),
            ("2020-06", "2020-05", "from"),
            ("2001-01", "2020-01", "from"),
            ("2017-01", "2017-02", "to"),
            (None, "2017-12", "to"),
            ("2017-12", "2018-02", "from"),
        ],
    )
    def test_bad_ranges_name_the_field(self, first, last, field):
        with pytest.raises(InvalidStatsInput) as e:
            service.month_range(first, last, now=sh(2020, 6, 15))
        assert e.value.details[0]["field"] == field

    @given(st.text(max_size=10))
    def test_any_text_is_a_month_or_a_field_error(self, text):
        try:
            month = service.parse_month(text, "from")
        except InvalidStatsInput as e:
            assert e.details[0]["field"] == "from"
        else:
            assert 1 <= month % 100 <= 12 and service.month_label(month) == text.strip()

    @given(st.integers(1900, 2200), st.integers(1, 12), st.integers(-300, 300))
    def test_month_arithmetic(self, y, m, n):
        month = y * 100 + m
        assert service.prev_month(service.next_month(month)) == month
        shifted = service._shift(month, n)
        assert len(service.months_between(min(month, shifted), max(month, shifted))) == abs(n) + 1


class TestLpr:
    def _create(self, session, actor, **kw):
        data = {
            "tenor": Tenor.ONE_YEAR,
            "effective_on": date(2024, 1, 22),
            "rate_pct": Decimal("3.45"),
        }
        data.update(kw)
        return service.create_lpr(
            session, data=LprCreate(**data), actor=actor, today=date(2024, 2, 1)
        )

    def test_entered_audited_and_unique(self, session):
        from sqlalchemy import select

        from puhui.audit.models import AuditEvent

        world = seed(session)
        rate = self._create(session, world.operator)
        assert rate.rate_bp == 345
        event = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == service.LPR_CREATED)
            .order_by(AuditEvent.id.desc())
        ).first()
        assert event.details == {"tenor": "1y", "effective_on": "2024-01-22", "rate_bp": 345}
        with pytest.raises(DuplicateLpr):
            self._create(session, world.operator)

    @pytest.mark.parametrize(
        ("kw", "field"),
        [
            ({"rate_pct": Decimal("0")}, "rate_pct"),
            ({"rate_pct": Decimal("20.01")}, "rate_pct"),
            ({"rate_pct": Decimal("3.455")}, "rate_pct"),
            ({"effective_on": date(2019, 8, 19)}, "effective_on"),
            ({"effective_on": date(2024, 3, 10)}, "effective_on"),
        ],
    )
    def test_bad_quotes_name_the_field(self, session, kw, field):
        world = seed(session)
        with pytest.raises(InvalidStatsInput) as e:
            self._create(session, world.operator, **kw)
        assert e.value.details[0]["field"] == field


class TestCoverage:
    def test_share_of_entities_with_bank_loans_in_the_snapshot(self, session, monkeypatch):
        import polars as pl

        from puhui.stats.repository import count_entities

        class View:
            def column(self, code: str) -> pl.Series:
                assert code == service.COVERAGE_INDICATOR
                return pl.Series([0.0, 5.0, None, 3.0, -1.0])

        monkeypatch.setattr(service.acquisition, "snapshot_view", lambda: View())  # noqa: PLW0108
        seed(session)
        service.refresh(session, since_month=202001, now=sh(2020, 6, 15))
        entities = count_entities(session)
        s = service.overview(session, first=202005, last=202006, locale="en")
        assert _series(s, "entities").values == [None, entities]
        assert _series(s, "coverage").values == [None, round(2 / entities * 100, 2)]
        assert _figure(s, "coverage") == round(2 / entities * 100, 2)

    def test_no_snapshot_no_coverage(self, session, monkeypatch):
        monkeypatch.setattr(service.acquisition, "snapshot_view", lambda: None)
        seed(session)
        service.refresh(session, since_month=202001, now=sh(2020, 6, 15))
        s = service.overview(session, first=202006, last=202006, locale="en")
        assert _series(s, "coverage").values == [None]
        assert _figure(s, "coverage") is None
