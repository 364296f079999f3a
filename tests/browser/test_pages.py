"""The UI in a real browser: every role's navigation, the language switch, institution
and user administration, and enterprise registration with an SMS code."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from puhui import demo
from puhui.core.policy import Actor, Role
from puhui.core.web import nav_for
from puhui.entities import service as entities
from puhui.notifications.models import Message
from tests.browser.conftest import LiveServer, Problems

pytestmark = pytest.mark.browser

DEMO_USERS = [(username, role) for username, _display, role, _inst, _mobile in demo.USERS]
NEW_PASSWORD = "Browser-pass-2026"


def path_of(url: str) -> str:
    return urlsplit(url).path


def nav_for_role(role: Role) -> list[Any]:
    return nav_for(Actor(user_id=0, username="x", role=role))


def login(page: Any, username: str, password: str = demo.DEMO_PASSWORD) -> None:
    """Log in through the real form and land on the home page."""
    page.goto("/login")
    form = page.locator("form[action='/login']")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(password)
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.locator(".usermenu .who").inner_text().startswith(username)


def open_by_click(page: Any, link: Any) -> int:
    """Click a link and return the HTTP status of the page it leads to."""
    with page.expect_navigation() as nav:
        link.click()
    response = nav.value
    assert response is not None
    page.wait_for_load_state("load")
    return int(response.status)


def assert_sound_page(page: Any, problems: Problems, where: str) -> None:
    h1 = page.locator("h1")
    assert h1.count() == 1, f"{where}: expected one <h1>, found {h1.count()}"
    assert h1.inner_text().strip(), f"{where}: the <h1> is empty"
    problems.assert_none(where)


def assert_links_answer(page: Any, seen: set[str], where: str) -> None:
    """Every local link on the page answers below 400 (with the page's cookies)."""
    hrefs = page.eval_on_selector_all("a[href^='/']", "els => els.map(e => e.getAttribute('href'))")
    for href in hrefs:
        # /lang/ switches the language cookie; the language test clicks it for real
        if href in seen or href.startswith("/lang/"):
            continue
        seen.add(href)
        r = page.request.get(href, max_redirects=0)
        assert r.status < 400, f"{where}: link {href} answers HTTP {r.status}"


@pytest.mark.parametrize(("username", "role"), DEMO_USERS, ids=[u for u, _ in DEMO_USERS])
def test_every_navigation_page_works_for_every_role(new_page, username: str, role: Role):
    page, problems = new_page()
    login(page, username)
    problems.assert_none(f"the log-in of {username}")

    expected = [item.path for item in nav_for(Actor(user_id=None, username=username, role=role))]
    hrefs = page.eval_on_selector_all(
        "nav.mainnav a", "els => els.map(e => e.getAttribute('href'))"
    )
    assert hrefs == expected, f"{username} ({role}) sees the wrong navigation"

    seen: set[str] = set()
    for href in hrefs:
        status = open_by_click(page, page.locator(f"nav.mainnav a[href='{href}']"))
        where = f"{href} as {username}"
        assert status < 400, f"{where}: HTTP {status}"
        assert path_of(page.url) == href, f"{where}: ended on {page.url}"
        current = page.locator("nav.mainnav a[aria-current=page]")
        assert current.get_attribute("href") == href, f"{where}: wrong nav item marked current"
        assert_sound_page(page, problems, where)
        assert_links_answer(page, seen, where)


def test_language_switch(new_page):
    page, problems = new_page()
    login(page, "operator")
    nav = page.locator("nav.mainnav")
    assert "首页" in nav.inner_text()
    assert page.locator("html").get_attribute("lang") == "zh-CN"

    open_by_click(page, page.locator("nav.mainnav a[href='/admin/users']"))
    open_by_click(page, page.get_by_role("link", name="English", exact=True))
    assert path_of(page.url) == "/admin/users"  # the switch returns to the same page
    labels = nav.locator("a").all_inner_texts()
    assert labels[0] == "Home"
    assert {"Institutions", "Users", "Jobs", "Messages", "My account"} <= set(labels)
    assert page.locator("h1").inner_text() == "Users"
    assert page.locator("html").get_attribute("lang") == "en"
    # the choice sticks across pages
    open_by_click(page, nav.locator("a[href='/account']"))
    assert page.locator("h1").inner_text() == "My account"

    open_by_click(page, page.get_by_role("link", name="中文", exact=True))
    assert path_of(page.url) == "/account"
    assert nav.locator("a").first.inner_text() == "首页"
    assert page.locator("h1").inner_text() == "我的账户"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    problems.assert_none("the language switch")


def test_operator_creates_institution_then_bank_admin_creates_and_disables_a_user(new_page):
    # the operator creates an institution
    page, problems = new_page()
    login(page, "operator")
    open_by_click(page, page.locator("nav.mainnav a[href='/admin/institutions']"))
    form = page.locator("form[action='/admin/institutions'][method=post]")
    form.locator("input[name=name]").fill("宁波浏览器测试村镇银行")
    form.locator("select[name=kind]").select_option("bank")
    form.locator("input[name=code]").fill("BANK-BR")
    assert open_by_click(page, form.locator("button[type=submit]")) == 200
    assert re.search(r"/admin/institutions/\d+$", page.url), page.url
    assert page.locator("h1").inner_text() == "宁波浏览器测试村镇银行"
    facts = page.locator("dl.facts").inner_text()
    assert "银行" in facts
    assert "BANK-BR" in facts
    open_by_click(page, page.locator("main a[href='/admin/institutions']"))
    row = page.locator("table.table tr", has_text="宁波浏览器测试村镇银行")
    assert row.count() == 1
    assert "BANK-BR" in row.inner_text()
    problems.assert_none("the operator's institution pages")

    # an administrator of a demo bank creates a customer manager, then disables it
    page, problems = new_page()
    login(page, "bank_admin")
    open_by_click(page, page.locator("nav.mainnav a[href='/admin/users']"))
    form = page.locator("form[action='/admin/users'][method=post]")
    assert form.locator("select[name=institution_id]").count() == 0  # own institution only
    form.locator("input[name=username]").fill("browser_cm")
    form.locator("input[name=display_name]").fill("浏览器客户经理")
    form.locator("select[name=role]").select_option("customer_manager")
    form.locator("input[name=password]").fill(NEW_PASSWORD)
    assert open_by_click(page, form.locator("button[type=submit]")) == 200
    assert re.search(r"/admin/users/\d+$", page.url), page.url
    user_path = path_of(page.url)
    assert page.locator("h1").inner_text() == "browser_cm"
    facts = page.locator("dl.facts")
    assert "浏览器客户经理" in facts.inner_text()
    assert "客户经理" in facts.inner_text()
    assert "启用" in facts.inner_text()

    disable = page.locator(f"form[action='{user_path}'] button.danger")
    assert open_by_click(page, disable) == 200
    assert path_of(page.url) == user_path
    assert "已停用" in page.locator("dl.facts").inner_text()
    assert page.locator(f"form[action='{user_path}'] button.danger").count() == 0

    open_by_click(page, page.locator("nav.mainnav a[href='/admin/users']"))
    row = page.locator("table.table tr", has_text="browser_cm")
    assert row.count() == 1
    assert "已停用" in row.inner_text()
    problems.assert_none("the bank administrator's user pages")

    # the disabled user cannot log in
    page, problems = new_page()
    page.goto("/login")
    form = page.locator("form[action='/login']")
    form.locator("input[name=username]").fill("browser_cm")
    form.locator("input[name=password]").fill(NEW_PASSWORD)
    form.locator("button[type=submit]").click()
    assert page.locator(".alert-error").is_visible()
    assert page.locator("nav.mainnav").count() == 0


def _wait_for_code(live_server: LiveServer, mobile: str, timeout: float = 10.0) -> str:
    """The code in the newest message to ``mobile``, once the worker has delivered it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with live_server.engine.connect() as conn:
            msg = conn.execute(
                select(Message.body, Message.status)
                .where(Message.sent_to(mobile))
                .order_by(Message.id.desc())
                .limit(1)
            ).first()
        if msg is not None and msg.status == "sent":
            match = re.search(r"(?<!\d)(\d{6})(?!\d)", msg.body)
            assert match, f"no code in the message: {msg.body!r}"
            return match.group(1)
        time.sleep(0.1)
    pytest.fail(f"no delivered message to {mobile} within {timeout:.0f}s (last: {msg})")


def test_enterprise_registers_with_an_sms_code_then_logs_in(new_page, live_server: LiveServer):
    mobile = "13912345678"
    uscc = entities.make("91330203MA0000777")
    page, problems = new_page()
    page.goto("/login")
    open_by_click(page, page.locator("main a[href='/register']"))
    assert page.locator("h1").inner_text() == "企业注册"

    form = page.locator("#register-form")
    form.locator("input[name=mobile]").fill(mobile)
    with page.expect_response(lambda r: path_of(r.url) == "/register/code") as sent:
        page.get_by_role("button", name="发送验证码").click()
    assert sent.value.status == 200
    status = page.locator("#code-status span[role=status]")
    assert "验证码已发送" in status.inner_text()
    assert "ok" in (status.get_attribute("class") or "").split()
    code = _wait_for_code(live_server, mobile)

    form.locator("input[name=uscc]").fill(uscc)
    form.locator("input[name=code]").fill(code)
    form.locator("input[name=username]").fill("browser_ent")
    form.locator("input[name=display_name]").fill("浏览器示范商行")
    form.locator("input[name=password]").fill(NEW_PASSWORD)
    form.locator("input[name=password2]").fill(NEW_PASSWORD)
    assert open_by_click(page, form.locator("button[type=submit]")) == 200
    assert page.locator("h1").inner_text() == "注册成功"
    assert "browser_ent" in page.locator("main").inner_text()
    problems.assert_none("the registration")

    open_by_click(page, page.locator("main a[href='/login']"))
    login(page, "browser_ent", NEW_PASSWORD)
    assert "浏览器示范商行" in page.locator("h1").inner_text()
    assert uscc in page.locator("dl.facts").inner_text()
    hrefs = page.eval_on_selector_all(
        "nav.mainnav a", "els => els.map(e => e.getAttribute('href'))"
    )
    assert hrefs == [item.path for item in nav_for_role(Role.ENTERPRISE)]
    assert "/admin/users" not in hrefs
    problems.assert_none("the new enterprise's home page")


def test_favicon_is_served(new_page):
    page, _ = new_page()
    page.goto("/login")
    icon = page.eval_on_selector("head", "h => h.querySelector('link[rel~=icon]')?.href || null")
    r = page.request.get(icon or "/favicon.ico")
    assert r.status < 400, f"the icon {icon or '/favicon.ico'} answers HTTP {r.status}"


def test_audit_filter_with_every_outcome(new_page):
    page, problems = new_page()
    login(page, "auditor")
    open_by_click(page, page.locator("nav.mainnav a[href='/audit']"))
    form = page.locator("form.filters")
    assert form.locator("select[name=outcome]").input_value() == ""  # "All"
    form.locator("input[name=username]").fill("operator")
    status = open_by_click(page, form.locator("button[type=submit]"))
    assert status < 400, f"filtering the audit log with every outcome answers HTTP {status}"
    assert_sound_page(page, problems, "the filtered audit log")


def test_a_scorecard_is_written_submitted_and_approved_by_another_user(new_page):
    page, problems = new_page()
    login(page, "bank_risk")
    open_by_click(page, page.locator("nav.mainnav a[href='/models']"))
    form = page.locator("form[action='/models']")
    form.locator("input[name=name]").fill("浏览器评分卡")
    open_by_click(page, form.locator("button[type=submit]"))
    assert_sound_page(page, problems, "the model page")
    cards = page.locator("form[action$='/versions']")
    cards.locator("textarea[name=definition]").fill('{"features": []}')
    assert open_by_click(page, cards.locator("button[type=submit]")) == 422
    assert page.locator(".field-error").count() >= 1
    problems.clear()  # the 422 of the refused form is the browser's only complaint
    cards = page.locator("form[action$='/versions']")
    cards.locator("textarea[name=definition]").fill(
        '{"base_points": 600, "features": [{"indicator": "NEG_RECORDS_TOTAL", "kind": "numeric",'
        ' "bins": [{"lo": null, "hi": 1, "points": 20}, {"lo": 1, "hi": null, "points": -40,'
        ' "reason": "NEG"}], "missing": {"points": 0}}], "reasons": {"NEG": "负面记录"}}'
    )
    open_by_click(page, cards.locator("button[type=submit]"))
    assert re.search(r"/model-versions/\d+$", page.url)
    version = path_of(page.url)
    assert_sound_page(page, problems, "the version page")
    open_by_click(page, page.locator(f"form[action='{version}/submit'] button"))
    assert page.locator(f"form[action='{version}/approve']").count() == 0  # not the maker
    page.context.clear_cookies()
    login(page, "bank_admin")
    page.goto(version)
    open_by_click(page, page.locator(f"form[action='{version}/approve'] button[type=submit]").first)
    assert_sound_page(page, problems, "the approved version")
    assert page.locator(f"form[action='{version}/retire']").count() == 1
    page.goto(f"{version}/psi")
    assert_sound_page(page, problems, "the PSI page")


def test_risk_manager_opens_an_alert_with_its_trend_and_acknowledges_it(new_page, live_server):
    from datetime import timedelta

    from sqlalchemy.orm import sessionmaker

    from puhui.accounts import service as accounts
    from puhui.catalog import service as catalog
    from puhui.consent.models import GRANTED, Consent
    from puhui.core.db import session_scope
    from puhui.core.orm import utcnow
    from puhui.monitoring.models import Alert, Rule, Watch
    from tests.entities.factories import record

    with session_scope(sessionmaker(live_server.engine)) as s:
        bank = accounts.get_institution_by_name(s, "宁波甬城银行")
        rec = record("浏览器预警企业")
        entities.upsert(s, [rec])
        entity_id = entities.ids_for(s, [rec.uscc])[rec.uscc]
        indicator = catalog.get(s, code="OPR_TAX_ARREARS").id
        s.add(Watch(institution_id=bank.id, entity_id=entity_id, source="page", note=""))
        s.add(
            Consent(
                entity_id=entity_id,
                institution_id=bank.id,
                purposes=["monitoring"],
                categories=["operating"],
                starts_at=utcnow() - timedelta(days=1),
                expires_at=utcnow() + timedelta(days=30),
                status=GRANTED,
            )
        )
        rule = Rule(
            institution_id=bank.id,
            name="欠税",
            indicator_id=indicator,
            kind="threshold",
            op="gt",
            threshold=0,
            severity="high",
            enabled=True,
            revision=1,
        )
        s.add(rule)
        s.flush()
        alert = Alert(
            institution_id=bank.id,
            entity_id=entity_id,
            rule_id=rule.id,
            indicator_id=indicator,
            period=202601,
            kind="threshold",
            severity="high",
            value=5000.0,
            threshold=0,
            op="gt",
            rule_set_version=1,
            status="new",
            note="",
        )
        s.add(alert)
        s.flush()
        alert_id = alert.id
    page, problems = new_page()
    login(page, "bank_risk")
    open_by_click(page, page.locator("nav.mainnav a[href='/monitoring/alerts']"))
    status = open_by_click(page, page.locator(f"a[href='/monitoring/alerts/{alert_id}']"))
    assert status == 200
    assert page.locator("#trend-chart").count() == 1
    assert_sound_page(page, problems, "an alert")
    form = page.locator("form[action$='/action']").first
    status = open_by_click(page, form.locator("button[type=submit]"))
    assert status < 400
    assert page.locator(".badge.state-acknowledged").count() == 1
    assert_sound_page(page, problems, "an acknowledged alert")


def test_the_district_map_and_the_service_trend_render_with_real_figures(new_page, live_server):
    """Six months of demo matching history on twelve entities spread over the districts:
    the coverage page draws one coloured tile per district (a canvas, the numbers in the
    table), and the service page its trend, with no console errors; a bank's
    administrator sees the other bank only by rank."""
    from sqlalchemy.orm import sessionmaker

    from puhui.core.db import session_scope
    from tests.entities.factories import record

    districts = list(entities.DISTRICTS)
    with session_scope(sessionmaker(live_server.engine)) as s:
        entities.upsert(
            s, [record(f"浏览器覆盖企业{i}", district=districts[i % 10]) for i in range(12)]
        )
        demo.seed_quality(s, entities_n=12)

    page, problems = new_page()
    login(page, "regulator")
    page.goto("/quality/coverage")
    page.wait_for_selector("#district-map canvas")
    tiles = page.eval_on_selector("#tiles-data", "el => JSON.parse(el.textContent).tiles.length")
    assert tiles == 10
    assert page.locator("#districts tbody tr").count() == 10
    page.select_option("#coverage-pick", "1")  # compare the city with a district
    page.select_option("#coverage-metric", "borrowers")
    assert_sound_page(page, problems, "the coverage page")

    page.goto("/quality/service")
    page.wait_for_selector("#service-chart canvas")
    assert page.locator("#league tbody tr").count() >= 2
    page.select_option("#service-metric", "grant_rate")
    assert_sound_page(page, problems, "the service quality page")

    page, problems = new_page()
    login(page, "bank2_admin")
    page.goto("/quality/service")
    text = page.locator("#league").inner_text()
    assert "宁波海曙农商银行" in text and "宁波甬城银行" not in text
    assert_sound_page(page, problems, "the service quality page of a bank")
