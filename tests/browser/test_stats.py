"""Platform statistics in a real browser: the charts draw (ECharts under the CSP), the
series picker redraws, the LPR form saves, and nothing lands on the console."""

from __future__ import annotations

import pytest

from tests.browser.test_pages import login

pytestmark = pytest.mark.browser


def test_the_statistics_charts_render_and_switch(new_page):
    page, problems = new_page()
    login(page, "regulator")
    page.goto("/stats")
    page.wait_for_selector("#stats-chart canvas", timeout=10_000)
    options = page.locator("#stats-pick option")
    assert options.count() >= 20
    page.select_option("#stats-pick", index=9)  # amount granted
    page.wait_for_timeout(200)
    assert page.locator("#stats-chart canvas").count() >= 1
    assert page.locator("#stats-figures tbody tr").count() == options.count()
    problems.assert_none("/stats as regulator")


def test_operator_enters_an_lpr_quote(new_page):
    page, problems = new_page()
    login(page, "operator")
    page.goto("/stats/lpr")
    form = page.locator("form[action='/stats/lpr']")
    form.locator("select[name=tenor]").select_option("5y")
    form.locator("input[name=effective_on]").fill("2025-05-20")
    form.locator("input[name=rate_pct]").fill("3.50")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert "3.50%" in page.locator("table").inner_text()
    problems.assert_none("/stats/lpr as operator")
