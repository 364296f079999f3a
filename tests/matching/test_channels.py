"""The channels without the full form: loan codes (QR), the simple flow (mobile, code,
USCC, amount) and the WeChat official account's signed webhook."""

from __future__ import annotations

import re
import time

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, select

from puhui.accounts.models import User
from puhui.matching import wechat
from puhui.matching.models import Demand
from puhui.notifications.models import Message
from tests import factories
from tests.matching.conftest import count, messages_to
from tests.matching.wx import loan_xml, signed


class TestLoanCodes:
    def _code(self, market, who="cm_a", **body):
        r = market.client.post(
            "/api/v1/loan-codes", json={"target": "manager", **body}, headers=market.h(who)
        )
        assert r.status_code == 201, r.text
        return r.json()

    def test_a_manager_code_makes_qr_images_and_attributes_demands(self, market):
        code = self._code(market, label="展会二维码")
        assert code["url"].endswith(f"/l/{code['code']}")
        h = market.h("cm_a")
        png = market.client.get(f"/api/v1/loan-codes/{code['id']}/qr.png", headers=h)
        assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
        svg = market.client.get(f"/api/v1/loan-codes/{code['id']}/qr.svg", headers=h)
        assert svg.status_code == 200 and b"<svg" in svg.content
        assert (
            market.client.get(
                f"/api/v1/loan-codes/{code['id']}/qr.svg", headers=market.h("cm_b")
            ).status_code
            == 404
        )
        page = market.client.get(f"/l/{code['code']}")
        assert page.status_code == 200 and "甲银行" in page.text and code["code"] in page.text
        r = market.client.post(
            "/api/v1/demands",
            json={
                "amount": "300000",
                "term_months": 12,
                "purpose": "扩大生产",
                "contact_name": "李四",
                "loan_code": code["code"],
            },
            headers=market.h("ent_a"),
        )
        assert r.status_code == 201, r.text
        d = r.json()
        assert d["channel"] == "loan_code" and d["target_institution_name"] == "甲银行"
        assert d["contact_mobile"] == "13700000001"  # the account's own mobile
        told = messages_to(market, market.users["cm_a"].id)
        assert any(str(d["id"]) in m.body and "展会二维码" in m.body for m in told)
        listed = market.client.get("/api/v1/loan-codes", headers=h).json()["items"][0]
        assert listed["scans"] == 1 and listed["demands"] == 1

    def test_product_and_branch_codes_check_their_target(self, market):
        p = self._code(market, "admin_a", target="product", product_id=market.product["id"])
        assert p["product_name"] == "甬城经营贷"
        bad = market.client.post(
            "/api/v1/loan-codes", json={"target": "branch"}, headers=market.h("cm_a")
        )
        assert bad.status_code == 422
        foreign = market.client.post(
            "/api/v1/loan-codes",
            json={"target": "product", "product_id": market.product["id"]},
            headers=market.h("cm_b"),
        )
        assert foreign.status_code == 422
        assert market.client.get("/l/nosuchcode").status_code == 404


class TestSimpleFlow:
    def _code_for(self, market, mobile: str) -> str:
        r = market.client.post("/api/v1/demands/simple/code", json={"mobile": mobile})
        assert r.status_code == 202, r.text
        with market.factory() as s:
            body = s.scalars(
                select(Message.body).where(Message.sent_to(mobile)).order_by(Message.id.desc())
            ).first()
        return re.search(r"\d{6}", body).group(0)

    def test_mobile_code_uscc_and_amount_raise_a_demand_and_an_account(self, market):
        mobile = "13911112222"
        before = count(market, Demand)
        wrong = market.client.post(
            "/api/v1/demands/simple",
            json={"mobile": mobile, "code": "000000", "uscc": market.b, "amount": "200000"},
        )
        assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "invalid_code"
        code = self._code_for(market, mobile)
        r = market.client.post(
            "/api/v1/demands/simple",
            json={"mobile": mobile, "code": code, "uscc": market.b, "amount": "200000"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["channel"] == "simple"
        assert count(market, Demand) == before + 1
        # entity B already has an account (ent_b): the demand is linked to it
        with market.factory() as s:
            demand = s.get(Demand, r.json()["id"])
            assert demand.user_id == market.users["ent_b"].id
            assert demand.contact_mobile == mobile
        replay = market.client.post(
            "/api/v1/demands/simple",
            json={"mobile": mobile, "code": code, "uscc": market.b, "amount": "200000"},
        )
        assert replay.status_code == 422  # a code is used once

    def test_an_entity_without_an_account_gets_one_to_complete(self, market):
        from puhui.entities import service as entities
        from tests.entities.factories import record

        rec = record("丙科技有限公司")
        with market.factory.begin() as s:
            entities.upsert(s, [rec])
        mobile = "13922223333"
        code = self._code_for(market, mobile)
        r = market.client.post(
            "/api/v1/demands/simple",
            json={"mobile": mobile, "code": code, "uscc": rec.uscc, "amount": "90000.50"},
        )
        assert r.status_code == 201, r.text
        with market.factory() as s:
            user = s.scalars(select(User).where(User.entity_uscc == rec.uscc)).one()
            assert user.mobile == mobile and user.password_hash == "!unclaimed"
        # the owner completes the account by registering with the same mobile: one code a
        # minute per number, whatever it is for, so the registration code waits the minute
        too_soon = market.client.post("/api/v1/auth/register/code", json={"mobile": mobile})
        assert too_soon.status_code == 429 and 1 <= int(too_soon.headers["Retry-After"]) <= 60
        with market.factory.begin() as s:  # the minute passes
            from puhui.core import limits

            minute = limits.Limit("sms.minute", 1, 60)
            key = limits.subject_key(minute, f"mobile:{mobile}", market.settings.secret_key)
            s.execute(delete(limits.RateCounter).where(limits.RateCounter.key == key))
        r = market.client.post("/api/v1/auth/register/code", json={"mobile": mobile})
        assert r.status_code == 202, r.text
        with market.factory() as s:
            body = s.scalars(
                select(Message.body).where(Message.sent_to(mobile)).order_by(Message.id.desc())
            ).first()
        reg = market.client.post(
            "/api/v1/auth/register",
            json={
                "mobile": mobile,
                "code": re.search(r"\d{6}", body).group(0),
                "uscc": rec.uscc,
                "username": "bingtech",
                "password": "Bing-tech-2026!",
            },
        )
        assert reg.status_code == 201, reg.text
        mine = market.client.get(
            "/api/v1/demands", headers=factories.token(market.client, "bingtech", "Bing-tech-2026!")
        )
        assert mine.json()["total"] == 1

    def test_unknown_uscc_is_refused_before_the_code_is_used(self, market):
        mobile = "13933334444"
        code = self._code_for(market, mobile)
        r = market.client.post(
            "/api/v1/demands/simple",
            json={"mobile": mobile, "code": code, "uscc": "91330212MA0000001X", "amount": "1000"},
        )
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "uscc"
        ok = market.client.post(
            "/api/v1/demands/simple",
            json={"mobile": mobile, "code": code, "uscc": market.a, "amount": "1000"},
        )
        assert ok.status_code == 201, ok.text


class TestWeChat:
    def test_the_server_check_echoes_only_with_the_right_signature(self, market, monkeypatch):
        monkeypatch.setattr(market.settings, "wechat_token", "wxtoken")
        q = signed("wxtoken")
        r = market.client.get("/api/v1/webhooks/wechat", params={**q, "echostr": "hello"})
        assert r.status_code == 200 and r.text == "hello"
        bad = market.client.get(
            "/api/v1/webhooks/wechat", params={**signed("other"), "echostr": "x"}
        )
        assert bad.status_code == 401

    def test_a_loan_text_becomes_one_demand(self, market, monkeypatch):
        monkeypatch.setattr(market.settings, "wechat_token", "wxtoken")
        before = count(market, Demand)
        body = loan_xml(f"贷款 {market.a} 50万 24个月 13955556666 采购设备", msg_id="1001")
        r = market.client.post(
            "/api/v1/webhooks/wechat",
            params=signed("wxtoken"),
            content=body,
            headers={"Content-Type": "application/xml"},
        )
        assert r.status_code == 200, r.text
        assert "<xml>" in r.text and "500000.00" in r.text
        assert count(market, Demand) == before + 1
        with market.factory() as s:
            d = s.scalars(select(Demand).order_by(Demand.id.desc())).first()
            assert (d.channel, d.amount_fen, d.term_months) == ("wechat", 50_000_000, 24)
            assert d.contact_mobile == "13955556666" and d.purpose == "采购设备"
        again = market.client.post(
            "/api/v1/webhooks/wechat",
            params=signed("wxtoken"),
            content=body,
            headers={"Content-Type": "application/xml"},
        )
        assert again.status_code == 200 and count(market, Demand) == before + 1  # WeChat retries

    def test_unsigned_stale_or_malformed_messages_write_nothing(self, market, monkeypatch):
        monkeypatch.setattr(market.settings, "wechat_token", "wxtoken")
        before = count(market, Demand)
        body = loan_xml(f"贷款 {market.a} 50万 13955556666", msg_id="2002")
        for params in (signed("wrong"), signed("wxtoken", timestamp=int(time.time()) - 3600)):
            r = market.client.post("/api/v1/webhooks/wechat", params=params, content=body)
            assert r.status_code == 401
        bad = market.client.post(
            "/api/v1/webhooks/wechat", params=signed("wxtoken"), content=b"<xml><oops"
        )
        assert bad.status_code == 422
        help_ = market.client.post(
            "/api/v1/webhooks/wechat",
            params=signed("wxtoken"),
            content=loan_xml("贷款 我要借钱", msg_id="2003"),
        )
        assert help_.status_code == 200 and "<Content>" in help_.text
        assert count(market, Demand) == before

    def test_without_a_token_configured_everything_is_refused(self, market, monkeypatch):
        monkeypatch.setattr(market.settings, "wechat_token", None)
        r = market.client.post(
            "/api/v1/webhooks/wechat", params=signed(""), content=loan_xml("贷款", msg_id="1")
        )
        assert r.status_code == 401


USCC = "91330212MA2H3J4K5L"


@given(
    amount=st.decimals(min_value=1, max_value=99_999_999, places=2),
    term=st.integers(1, 360),
    mobile=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    order=st.permutations(range(4)),
)
def test_loan_texts_parse_whatever_the_order(amount, term, mobile, order):
    tokens = [USCC, f"{amount}", f"{term}个月", mobile]
    text = "贷款 " + " ".join(tokens[i] for i in order)
    loan = wechat.parse_loan_text(text)
    assert (loan.uscc, loan.amount, loan.term_months, loan.mobile) == (USCC, amount, term, mobile)


@given(wan=st.integers(1, 99_999))
def test_wan_means_ten_thousand_yuan(wan):
    loan = wechat.parse_loan_text(f"贷款 {USCC} {wan}万 13800000000")
    assert loan.amount == wan * 10000 and loan.term_months == 12


@given(st.text(max_size=80))
def test_any_text_parses_or_says_what_is_missing(text):
    try:
        loan = wechat.parse_loan_text(text)
    except wechat.BadLoanText as exc:
        assert exc.reason
    else:
        assert loan.amount > 0 and wechat.MOBILE.fullmatch(loan.mobile)


@given(st.binary(max_size=300))
def test_any_body_parses_or_is_a_value_error(body):
    try:
        message = wechat.parse_message(body)
    except ValueError as exc:
        assert str(exc)  # says what is wrong
    else:  # only a well-formed message gets through, with every required field
        assert message.to_user and message.from_user and message.kind
        assert message.created >= 0
