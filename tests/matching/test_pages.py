"""The matching pages for each role, through the forms people use."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from puhui.matching.models import Callback, Demand, Product
from puhui.notifications.models import Message
from tests import factories
from tests.conftest import csrf_from
from tests.matching.conftest import count, raise_demand


def _login(market, who: str) -> str:
    market.client.cookies.clear()
    return factories.web_login(market.client, market.users[who].username)


class TestEnterprisePages:
    def test_apply_with_the_form_and_see_it(self, market):
        csrf = _login(market, "ent_a")
        form = market.client.get("/apply")
        assert form.status_code == 200 and 'name="amount"' in form.text
        assert 'name="mobile"' not in form.text  # a logged-in enterprise uses the full form
        before = count(market, Demand)
        bad = market.client.post(
            "/apply",
            data={
                "csrf_token": csrf,
                "amount": "-1",
                "term_months": "12",
                "purpose": "采购",
                "contact_name": "张三",
            },
        )
        assert bad.status_code == 422 and "field-error" in bad.text
        assert count(market, Demand) == before
        r = market.client.post(
            "/apply",
            data={
                "csrf_token": csrf,
                "amount": "250000",
                "term_months": "12",
                "purpose": "采购原材料",
                "guarantee_type": "credit",
                "contact_name": "张三",
            },
            follow_redirects=False,
        )
        assert r.status_code == 303
        page = market.client.get(r.headers["location"])
        assert page.status_code == 200 and "250000.00" in page.text
        listing = market.client.get("/demands")
        assert r.headers["location"].rsplit("/", 1)[1] in listing.text

    def test_anyone_applies_with_mobile_and_code(self, market):
        market.client.cookies.clear()
        page = market.client.get("/wx")
        assert page.status_code == 200 and 'name="mobile"' in page.text
        csrf = csrf_from(page.text)
        sent = market.client.post("/apply/code", data={"csrf_token": csrf, "mobile": "13966667777"})
        assert sent.status_code == 200 and "13966667777" in sent.text
        bad = market.client.post("/apply/code", data={"csrf_token": csrf, "mobile": "123"})
        assert bad.status_code == 422 and "field-error" in bad.text
        with market.factory() as s:
            body = s.scalars(select(Message.body).where(Message.sent_to("13966667777"))).first()
        code = re.search(r"\d{6}", body).group(0)
        r = market.client.post(
            "/apply",
            data={
                "csrf_token": csrf,
                "mobile": "13966667777",
                "code": code,
                "uscc": market.a,
                "amount": "80000",
                "via_wechat": "1",
            },
        )
        assert r.status_code == 200, r.text
        with market.factory() as s:
            d = s.scalars(select(Demand).order_by(Demand.id.desc())).first()
            assert d.channel == "wechat" and d.amount_fen == 8_000_000


class TestBankPages:
    def test_pool_claim_and_progress(self, market):
        d = raise_demand(market)
        csrf = _login(market, "cm_a")
        pool = market.client.get("/pool")
        assert pool.status_code == 200 and "137****0001" in pool.text
        assert market.client.get("/pool?amount_min=abc&grade=Z").status_code == 200
        r = market.client.post(
            f"/demands/{d['id']}/claim", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert r.status_code == 303
        page = market.client.get(f"/demands/{d['id']}")
        assert "13700000001" in page.text and 'name="to"' in page.text
        bad = market.client.post(
            f"/demands/{d['id']}/claims/{_claim_id(market, d['id'])}/step",
            data={"csrf_token": csrf, "to": "approved"},
        )
        assert bad.status_code == 409 and "field-error" in bad.text  # contacted comes first
        ok = market.client.post(
            f"/demands/{d['id']}/claims/{_claim_id(market, d['id'])}/step",
            data={"csrf_token": csrf, "to": "contacted"},
            follow_redirects=False,
        )
        assert ok.status_code == 303
        again = market.client.post(f"/demands/{d['id']}/claim", data={"csrf_token": csrf})
        assert again.status_code == 409

    def test_publish_a_product_and_make_a_loan_code(self, market):
        csrf = _login(market, "admin_a")
        bad = market.client.post(
            "/products",
            data={
                "csrf_token": csrf,
                "name": "坏产品",
                "amount_min": "500",
                "amount_max": "100",
                "term_min_months": "1",
                "term_max_months": "12",
                "rate_min": "3",
                "rate_max": "4",
                "guarantee_types": ["credit"],
            },
        )
        assert bad.status_code == 422 and "field-error" in bad.text
        r = market.client.post(
            "/products",
            data={
                "csrf_token": csrf,
                "name": "科技贷",
                "amount_min": "100000",
                "amount_max": "5000000",
                "term_min_months": "6",
                "term_max_months": "36",
                "rate_min": "3.1",
                "rate_max": "4.9",
                "guarantee_types": ["credit"],
                "documents": "营业执照\n专利证书",
            },
            follow_redirects=False,
        )
        assert r.status_code == 303
        with market.factory() as s:
            product = s.scalars(select(Product).where(Product.name == "科技贷")).one()
            assert product.documents == ["营业执照", "专利证书"]
        public = market.client.get("/products?amount=200000")
        assert "科技贷" in public.text
        codes = market.client.post(
            "/loan-codes",
            data={
                "csrf_token": csrf,
                "target": "product",
                "product_id": str(product.id),
                "label": "科技园",
            },
            follow_redirects=False,
        )
        assert codes.status_code == 303
        listing = market.client.get("/loan-codes")
        assert "科技园" in listing.text and "/qr.svg" in listing.text


class TestOperatorPages:
    def test_events_callbacks_and_the_league(self, market):
        raise_demand(market)
        csrf = _login(market, "operator")
        start = datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(hours=1)
        r = market.client.post(
            "/ops/events",
            data={
                "csrf_token": csrf,
                "name": "普惠金融服务月",
                "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
                "ends_at": (start + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
                "institution_ids": [str(market.banks["a"]), str(market.banks["b"])],
            },
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        assert "普惠金融服务月" in market.client.get("/ops/events").text
        empty = market.client.post("/ops/events", data={"csrf_token": csrf, "name": "x"})
        assert empty.status_code == 422
        sampled = market.client.post(
            "/ops/callbacks/sample", data={"csrf_token": csrf, "share": "100"}
        )
        assert sampled.status_code == 200
        with market.factory() as s:
            cb = s.scalars(select(Callback)).first()
        r = market.client.post(
            f"/ops/callbacks/{cb.id}",
            data={
                "csrf_token": csrf,
                "reached": "yes",
                "contacted_by_bank": "yes",
                "satisfaction": "5",
            },
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert market.client.get("/ops/callbacks?status=done").status_code == 200
        assert market.client.get("/matching/league").status_code == 200


def _claim_id(market, demand_id: int) -> int:
    from puhui.matching.models import Claim

    with market.factory() as s:
        return s.scalars(select(Claim.id).where(Claim.demand_id == demand_id)).first()
