"""The lead pages end to end: save a filter from the builder, run it, page its leads,
export a file, invite a lead, and the enterprise accepting on its invitations page."""

from __future__ import annotations

from sqlalchemy import select

from puhui.acquisition.models import Invitation, SavedFilter
from puhui.matching.models import Demand
from tests import factories
from tests.conftest import csrf_from


def _login(city, who: str) -> str:
    city.client.cookies.clear()
    return factories.web_login(city.client, city.users[who].username)


GROWS = {"ind": "OPR_TAX_TOTAL_YOY", "op": "gt", "a": "0", "b": ""}


def _save(city, name: str = "增长客户", **extra: str):
    token = csrf_from(city.client.get("/acquisition").text)
    data = {**GROWS, "match": "all", "sort": "CRE_HEALTH_SCORE", "order": "desc"}
    data.update(name=name, schedule="weekly", csrf_token=token, **extra)
    return city.client.post("/acquisition/saved", data=data, follow_redirects=False)


class TestLeadPages:
    def test_save_run_page_export_and_invite(self, city):
        _login(city, "cm_a")
        assert 'action="/acquisition/saved"' in city.client.get("/acquisition").text
        r = _save(city)
        assert r.status_code == 303, r.text
        page = r.headers["location"]
        with city.factory() as s:
            saved = s.scalars(select(SavedFilter)).one()
            assert saved.schedule == "weekly" and saved.definition["conditions"][0]["op"] == "gt"
        r = city.client.get(page)
        assert r.status_code == 200 and "增长客户" in r.text
        token = csrf_from(r.text)
        r = city.client.post(f"{page}/run", data={"csrf_token": token}, follow_redirects=True)
        assert (
            r.status_code == 200 and "甲制造有限公司" in r.text and "乙贸易有限公司" not in r.text
        )
        run_id = int(r.text.split("/acquisition/runs/")[1].split("/")[0])
        r = city.client.post(
            f"/acquisition/runs/{run_id}/export",
            data={"csrf_token": token, "filter_id": saved.id, "format": "csv", "scope": "all"},
        )
        assert r.status_code == 200 and r.content.decode("utf-8-sig").startswith("uscc,name")
        r = city.client.post(
            "/acquisition/invite",
            data={"csrf_token": token, "uscc": city.a, "kind": "demand", "filter_id": saved.id},
            follow_redirects=True,
        )
        assert r.status_code == 200 and "甲制造有限公司" in r.text
        # a second invitation is refused on the same page, with the reason
        r = city.client.post(
            "/acquisition/invite",
            data={"csrf_token": token, "uscc": city.a, "kind": "demand", "filter_id": saved.id},
        )
        assert r.status_code == 409 and "field-error" in r.text

    def test_wrong_name_and_export_limits_are_shown_on_the_page(self, city, monkeypatch):
        _login(city, "cm_a")
        r = _save(city, name="   ")
        assert r.status_code == 422 and "field-error" in r.text
        r = _save(city, name="ok")
        page = r.headers["location"]
        token = csrf_from(city.client.get(page).text)
        city.client.post(f"{page}/run", data={"csrf_token": token})
        run_id = int(city.client.get(page).text.split("/acquisition/runs/")[1].split("/")[0])
        filter_id = int(page.rsplit("/", 1)[1])
        r = city.client.post(
            f"/acquisition/runs/{run_id}/export",
            data={"csrf_token": token, "filter_id": filter_id, "limit": "abc"},
        )
        assert r.status_code == 422 and "field-error" in r.text
        monkeypatch.setattr(city.settings, "acquisition_export_daily_rows", 0)
        r = city.client.post(
            f"/acquisition/runs/{run_id}/export",
            data={"csrf_token": token, "filter_id": filter_id},
        )
        assert r.status_code == 409 and "field-error" in r.text

    def test_the_enterprise_accepts_an_invitation_on_its_page(self, city):
        h = city.h("cm_a")
        r = city.client.post(
            "/api/v1/acquisition/invitations",
            json={"uscc": city.a, "kind": "demand", "message": "欢迎"},
            headers=h,
        )
        assert r.status_code == 201
        inv = r.json()["id"]
        _login(city, "ent_a")
        page = city.client.get("/me/invitations")
        assert page.status_code == 200 and "欢迎" in page.text and "甲银行" in page.text
        token = csrf_from(page.text)
        bad = {"csrf_token": token, "amount": "-5", "term_months": "12", "purpose": "周转"}
        r = city.client.post(f"/me/invitations/{inv}/accept", data={**bad, "contact_name": "王"})
        assert r.status_code == 422 and "field-error" in r.text
        good = {**bad, "amount": "300000", "contact_name": "王经理"}
        r = city.client.post(f"/me/invitations/{inv}/accept", data=good, follow_redirects=True)
        assert r.status_code == 200
        with city.factory() as s:
            row = s.get(Invitation, inv)
            assert row.status == "accepted"
            assert s.get(Demand, row.demand_id).target_institution_id == city.banks["a"]

    def test_other_roles_do_not_reach_the_pages(self, city):
        _login(city, "ent_a")
        assert city.client.get("/acquisition/saved").status_code == 403
        _login(city, "cm_a")
        assert city.client.get("/me/invitations").status_code == 403
        assert city.client.get("/acquisition/saved/999").status_code == 404
