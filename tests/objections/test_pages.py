"""The objection pages: the enterprise raises one from its profile page with an attached
file, the operator routes it, the department answers, the regulator sees it with its age."""

from __future__ import annotations

import re

from tests import factories

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _login(town, who: str) -> str:
    town.client.cookies.clear()
    return factories.web_login(town.client, town.users[who].username)


class TestPages:
    def test_raise_route_answer_and_watch_through_the_pages(self, town):
        token = _login(town, "ent_a")
        own = town.client.get("/me/data")
        assert own.status_code == 200
        assert "/objections/new?indicator=OPR_TAX_TOTAL_YOY&period=202609" in own.text
        form = town.client.get("/objections/new?indicator=OPR_TAX_TOTAL_YOY&period=202609")
        assert form.status_code == 200 and "OPR_TAX_TOTAL_YOY" in form.text
        r = town.client.post(
            "/objections/new",
            data={
                "indicator": "OPR_TAX_TOTAL_YOY",
                "period": "202609",
                "reason": "数值与申报不符",
                "csrf_token": token,
            },
            files={"file": ("证明.png", PNG, "image/png")},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        mine = town.client.get("/objections")
        assert "证明.png" in mine.text and "已提交" in mine.text

        token = _login(town, "operator")
        queue = town.client.get("/objections")
        oid = town.client.get("/api/v1/objections", headers=town.h("operator")).json()["items"][0][
            "id"
        ]
        assert f"/objections/{oid}/route" in queue.text
        # the attachment's link on the page opens for the operator (a web route, cookies)
        (link,) = re.findall(rf'href="(/objections/{oid}/attachments/\d+)"', queue.text)
        got = town.client.get(link)
        assert got.status_code == 200 and got.content == PNG
        r = town.client.post(
            f"/objections/{oid}/route",
            data={"source": "TAX", "csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text

        token = _login(town, "steward_tax")
        assert f"/objections/{oid}/answer" in town.client.get("/objections").text
        r = town.client.post(
            f"/objections/{oid}/answer",
            data={
                "outcome": "unverifiable",
                "explanation": "原始凭证已灭失，无法核实",
                "csrf_token": token,
            },
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text

        _login(town, "ent_b")  # not a party: the file is not found
        assert town.client.get(link).status_code == 404

        _login(town, "regulator")
        page = town.client.get("/objections/overview")
        assert page.status_code == 200 and "未办结异议" in page.text
        town.client.cookies.clear()
