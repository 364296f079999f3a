"""Saved filters, their runs and what is new between them, lead pages and files within the
daily quota, and invitations that become a demand or an authorization — on the small city
over the API."""

from __future__ import annotations

import csv
import io
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from puhui.acquisition import leads
from puhui.acquisition.models import Invitation, SavedFilter
from puhui.audit.models import AuditEvent
from puhui.consent.models import Consent
from puhui.ingest import service as ingest
from puhui.matching.models import Demand
from puhui.notifications.models import Message
from tests.city import _csv, drain

API = "/api/v1/acquisition"
GROWS = {"indicator": "OPR_TAX_TOTAL_YOY", "op": "gt", "value": 0}


def _save(city, name="growing", conditions=None, who="cm_a", schedule="none") -> dict[str, Any]:
    body = {"name": name, "filter": {"conditions": conditions or [GROWS]}, "schedule": schedule}
    r = city.client.post(f"{API}/saved-filters", json=body, headers=city.h(who))
    assert r.status_code == 201, r.text
    return r.json()


def _run(city, filter_id: int, who="cm_a") -> dict[str, Any]:
    r = city.client.post(f"{API}/saved-filters/{filter_id}/runs", headers=city.h(who))
    assert r.status_code == 201, r.text
    return r.json()


def _leads(city, run_id: int, scope="all", who="cm_a") -> list[str]:
    r = city.client.get(f"{API}/runs/{run_id}/leads?scope={scope}", headers=city.h(who))
    assert r.status_code == 200, r.text
    return [h["uscc"] for h in r.json()["items"]]


@pytest.fixture
def own_engine(tmp_path):
    """A database of the test's own: the races commit for real, and their rows must not
    show up in other tests' counts."""
    import os

    from puhui import migrate
    from puhui.core.db import make_engine
    from tests.conftest import create_database

    url, drop = create_database(os.environ.get("PUHUI_TEST_DATABASE_URL"), tmp_path, "race")
    engine = make_engine(url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    drop()


def _b_starts_growing(city, tmp_path) -> None:
    path = _csv(tmp_path, "tax2.csv", [f"{city.b},OPR_TAX_TOTAL_YOY,2026-10,0.12"])
    out = ingest.ingest_path(
        city.factory, source_code="TAX", path=path, actor=None, via="cli", settings=city.settings
    )
    assert out.status == "committed"
    drain(city.factory)


class TestSavedFilters:
    def test_save_list_update_and_archive(self, city):
        saved = _save(city)
        assert saved["summary"] and saved["last_run"] is None and saved["schedule"] == "none"
        listed = city.client.get(f"{API}/saved-filters", headers=city.h("rm_a")).json()
        assert [f["id"] for f in listed] == [saved["id"]]  # colleagues see it
        r = city.client.patch(
            f"{API}/saved-filters/{saved['id']}",
            json={"name": "  growing   fast ", "schedule": "daily"},
            headers=city.h("cm_a"),
        )
        assert r.status_code == 200 and r.json()["name"] == "growing fast"
        assert r.json()["next_run_at"] is not None
        gone = city.client.delete(f"{API}/saved-filters/{saved['id']}", headers=city.h("cm_a"))
        assert gone.status_code == 204
        assert city.client.get(f"{API}/saved-filters", headers=city.h("cm_a")).json() == []

    def test_only_the_owner_changes_and_other_banks_see_nothing(self, city):
        saved = _save(city)
        url = f"{API}/saved-filters/{saved['id']}"
        assert city.client.patch(url, json={"name": "x"}, headers=city.h("rm_a")).status_code == 403
        assert city.client.get(url, headers=city.h("cm_b")).status_code == 404
        assert city.client.post(f"{url}/runs", headers=city.h("cm_b")).status_code == 404
        assert city.client.get(url, headers=city.h("ent_a")).status_code == 403
        assert city.client.get(url, headers=city.h("admin_a")).status_code == 403

    def test_invalid_filters_and_names_are_refused_with_the_field(self, city):
        _save(city, name="dup")
        r = city.client.post(
            f"{API}/saved-filters",
            json={"name": "dup", "filter": {"conditions": [GROWS]}},
            headers=city.h("cm_a"),
        )
        assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "name"
        bad = {"indicator": "BAS_LEGAL_REP_ID", "op": "is_null"}
        r = city.client.post(
            f"{API}/saved-filters",
            json={"name": "bad", "filter": {"conditions": [GROWS, bad]}},
            headers=city.h("cm_a"),
        )
        assert r.status_code == 422
        assert "conditions.1" in r.json()["error"]["details"][0]["field"]
        r = city.client.post(
            f"{API}/saved-filters",
            json={"name": "   ", "filter": {}, "schedule": "hourly"},
            headers=city.h("cm_a"),
        )
        assert r.status_code == 422
        fields = {d["field"] for d in r.json()["error"]["details"]}
        assert {"name", "schedule"} <= {f.split(".")[-1] for f in fields}


class TestRuns:
    def test_second_run_shows_what_is_new_and_gone(self, city, tmp_path):
        saved = _save(city)
        first = _run(city, saved["id"])
        assert (first["total"], first["new_count"], first["gone_count"]) == (1, 1, 0)
        assert _leads(city, first["id"]) == [city.a]
        _b_starts_growing(city, tmp_path)
        second = _run(city, saved["id"])
        assert (second["total"], second["new_count"], second["gone_count"]) == (2, 1, 0)
        assert _leads(city, second["id"], scope="new") == [city.b]
        assert sorted(_leads(city, second["id"])) == sorted([city.a, city.b])
        runs = city.client.get(
            f"{API}/saved-filters/{saved['id']}/runs", headers=city.h("cm_a")
        ).json()
        assert [r["id"] for r in runs] == [second["id"], first["id"]]
        listed = city.client.get(f"{API}/saved-filters", headers=city.h("cm_a")).json()
        assert listed[0]["last_run"]["id"] == second["id"]

    def test_an_entity_that_opts_out_leaves_every_lead_list(self, city):
        run = _run(city, _save(city)["id"])
        r = city.client.put(
            "/api/v1/me/marketing", json={"opted_out": True}, headers=city.h("ent_a")
        )
        assert r.status_code == 200
        assert _leads(city, run["id"]) == []

    def test_scheduled_filters_run_when_due_and_tell_the_owner(self, city, tmp_path):
        saved = _save(city, schedule="daily")
        with city.factory.begin() as s:
            assert leads.run_due(s) == 1
            assert leads.run_due(s) == 0  # not due again for a day
        _b_starts_growing(city, tmp_path)
        with city.factory.begin() as s:
            later = datetime.now(UTC) + timedelta(days=1, minutes=1)
            assert leads.run_due(s, now=later) == 1
            row = s.get(SavedFilter, saved["id"])
            assert row.next_run_at > later
            notes = s.scalars(
                select(Message).where(
                    Message.template == "acquisition.new_leads",
                    Message.user_id == city.users["cm_a"].id,
                )
            ).all()
        assert len(notes) == 2  # the first run found A, the second B

    def test_id_sets_round_trip(self):
        import numpy as np

        ids = np.array([0, 1, 5, 6, 1_379_999], dtype=np.int64)
        assert leads.decode_ids(leads.encode_ids(ids)).tolist() == ids.tolist()
        assert leads.decode_ids(leads.encode_ids(ids[:0])).size == 0


class TestExports:
    def test_csv_and_xlsx_with_the_public_facts_and_audit(self, city):
        run = _run(city, _save(city)["id"])
        r = city.client.post(
            f"{API}/runs/{run['id']}/exports", json={"format": "csv"}, headers=city.h("cm_a")
        )
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert rows[0][:2] == ["uscc", "name"] and rows[1][0] == city.a
        assert "BAS_LEGAL_REP_ID" not in rows[0]
        r = city.client.post(
            f"{API}/runs/{run['id']}/exports", json={"format": "xlsx"}, headers=city.h("rm_a")
        )
        assert r.status_code == 200
        sheet = load_workbook(io.BytesIO(r.content)).active
        assert sheet.cell(2, 1).value == city.a
        with city.factory() as s:
            events = s.scalars(select(AuditEvent).where(AuditEvent.action == "leads.export")).all()
        assert [e.details["rows"] for e in events] == [1, 1]
        quota = city.client.get(f"{API}/export-quota", headers=city.h("cm_a")).json()
        assert quota["used"] == 2 and quota["remaining"] == quota["limit"] - 2

    def test_the_daily_quota_refuses_a_file_whole(self, city, tmp_path, monkeypatch):
        monkeypatch.setattr(city.settings, "acquisition_export_daily_rows", 3)
        _b_starts_growing(city, tmp_path)
        run = _run(city, _save(city)["id"])
        url = f"{API}/runs/{run['id']}/exports"
        assert city.client.post(url, json={}, headers=city.h("cm_a")).status_code == 200  # 2
        r = city.client.post(url, json={}, headers=city.h("rm_a"))
        assert r.status_code == 409 and r.json()["error"]["code"] == "export_quota_exceeded"
        assert "1" in r.json()["error"]["message"]
        assert city.client.post(url, json={"limit": 1}, headers=city.h("rm_a")).status_code == 200
        assert city.client.post(url, json={"limit": 1}, headers=city.h("cm_a")).status_code == 409
        # another institution's quota is its own, and it cannot read this run at all
        assert city.client.post(url, json={}, headers=city.h("cm_b")).status_code == 404

    def test_concurrent_exports_never_pass_the_quota(self, own_engine):
        engine = own_engine
        """Real transactions from many threads against one quota row: the conditional
        UPDATE lets exactly limit/rows of them through."""
        if engine.dialect.name == "sqlite":
            pytest.skip("SQLite serialises writers; the row-level race is PostgreSQL's")
        from sqlalchemy.orm import sessionmaker

        from puhui.acquisition import repository

        factory = sessionmaker(bind=engine, expire_on_commit=False)
        with factory.begin() as s:
            from tests import factories

            bank = factories.institution(s, name="并发银行")
            bank_id = bank.id
        day = datetime.now(UTC).date()

        def take(_: int) -> bool:
            with factory.begin() as s:
                return repository.take_quota(s, bank_id, day, 3, 10)

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(take, range(24)))
        assert sum(results) == 3
        with factory() as s:
            assert repository.quota_used(s, bank_id, day) == 9

    def test_bad_export_requests_name_the_field(self, city):
        run = _run(city, _save(city)["id"])
        r = city.client.post(
            f"{API}/runs/{run['id']}/exports",
            json={"format": "pdf", "limit": 0},
            headers=city.h("cm_a"),
        )
        assert r.status_code == 422
        fields = {d["field"].split(".")[-1] for d in r.json()["error"]["details"]}
        assert {"format", "limit"} <= fields


class TestInvitations:
    def _invite(self, city, **body: Any) -> Any:
        payload = {"uscc": city.a, "kind": "demand", "message": "欢迎申请", **body}
        return city.client.post(f"{API}/invitations", json=payload, headers=city.h("cm_a"))

    def test_an_accepted_invitation_becomes_a_directed_demand(self, city):
        r = self._invite(city)
        assert r.status_code == 201, r.text
        inv = r.json()
        assert inv["status"] == "pending" and inv["entity_name"] == "甲制造有限公司"
        mine = city.client.get("/api/v1/me/invitations", headers=city.h("ent_a")).json()
        assert [i["id"] for i in mine["items"]] == [inv["id"]]
        assert (
            city.client.get("/api/v1/me/invitations", headers=city.h("ent_b")).json()["items"] == []
        )
        url = f"/api/v1/me/invitations/{inv['id']}/accept"
        r = city.client.post(url, json={}, headers=city.h("ent_a"))
        assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "demand"
        demand = {
            "amount": 500000,
            "term_months": 12,
            "purpose": "采购原材料",
            "contact_name": "王经理",
            "contact_mobile": "13700000001",
        }
        r = city.client.post(url, json={"demand": demand}, headers=city.h("ent_a"))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "accepted" and r.json()["demand_id"]
        with city.factory() as s:
            row = s.get(Demand, r.json()["demand_id"])
            assert row.target_institution_id == city.banks["a"]
            assert row.referrer_id == city.users["cm_a"].id
            told = s.scalars(
                select(Message).where(Message.template == "acquisition.invited.demand")
            ).all()
            assert {m.channel for m in told} == {"inbox", "sms"}
        again = city.client.post(url, json={"demand": demand}, headers=city.h("ent_a"))
        assert again.status_code == 409 and again.json()["error"]["code"] == "invitation_closed"

    def test_an_accepted_invitation_to_authorize_grants_a_query_consent(self, city):
        inv = self._invite(city, kind="authorization").json()
        r = city.client.post(
            f"/api/v1/me/invitations/{inv['id']}/accept",
            json={"authorization_days": 30},
            headers=city.h("ent_a"),
        )
        assert r.status_code == 200, r.text
        with city.factory() as s:
            consent = s.get(Consent, r.json()["consent_id"])
            assert consent.institution_id == city.banks["a"] and consent.purposes == ["query"]
            assert consent.status == "granted"
        profile = city.client.get(f"/api/v1/entities/{city.a}/profile", headers=city.h("cm_a"))
        assert profile.status_code == 200

    def test_one_pending_invitation_per_entity_and_no_asking_again_after_no(self, city):
        first = self._invite(city).json()
        r = self._invite(city)
        assert r.status_code == 409 and r.json()["error"]["code"] == "already_invited"
        r = city.client.post(
            f"/api/v1/me/invitations/{first['id']}/decline",
            json={"note": "暂不需要"},
            headers=city.h("ent_a"),
        )
        assert r.status_code == 200 and r.json()["status"] == "declined"
        r = self._invite(city)
        assert r.status_code == 409 and r.json()["error"]["code"] == "declined_recently"
        # another bank may still ask
        other = city.client.post(
            f"{API}/invitations", json={"uscc": city.a}, headers=city.h("cm_b")
        )
        assert other.status_code == 201

    def test_concurrent_invitations_leave_one_pending(self, own_engine):
        engine = own_engine
        if engine.dialect.name == "sqlite":
            pytest.skip("SQLite serialises writers; the unique key race is PostgreSQL's")
        from sqlalchemy.orm import sessionmaker

        from puhui.acquisition.schemas import InvitationCreate
        from puhui.core.errors import Conflict
        from puhui.core.policy import Actor, InstitutionKind, Role
        from puhui.entities import service as entities
        from tests import factories
        from tests.entities.factories import record

        factory = sessionmaker(bind=engine, expire_on_commit=False)
        with factory.begin() as s:
            bank = factories.institution(s, name="邀请银行")
            cm = factories.user(s, Role.CUSTOMER_MANAGER, bank)
            firm = record("丙公司")
            entities.upsert(s, [firm])
            actor = Actor(
                user_id=cm.id,
                username=cm.username,
                role=Role.CUSTOMER_MANAGER,
                institution_id=bank.id,
                institution_kind=InstitutionKind(bank.kind),
            )

        def send(_: int) -> str:
            try:
                with factory.begin() as s:
                    leads.invite(s, actor=actor, data=InvitationCreate(uscc=firm.uscc))
                return "sent"
            except Conflict:
                return "refused"

        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(send, range(12)))
        assert results.count("sent") == 1
        with factory() as s:
            rows = s.scalars(select(Invitation).where(Invitation.institution_id == bank.id)).all()
        assert len(rows) == 1 and rows[0].status == "pending"

    def test_opted_out_unknown_and_foreign_products_are_refused(self, city):
        city.client.put("/api/v1/me/marketing", json={"opted_out": True}, headers=city.h("ent_a"))
        r = self._invite(city)
        assert r.status_code == 409 and r.json()["error"]["code"] == "opted_out"
        r = self._invite(city, uscc="91330200MA2XXXXX0X")
        assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "uscc"
        r = city.client.post(
            f"{API}/invitations", json={"uscc": city.b, "kind": "gift"}, headers=city.h("cm_a")
        )
        assert r.status_code == 422

    def test_daily_cap_withdraw_and_expiry(self, city, monkeypatch):
        monkeypatch.setattr(city.settings, "acquisition_invitations_daily", 1)
        inv = self._invite(city).json()
        r = city.client.post(f"{API}/invitations", json={"uscc": city.b}, headers=city.h("rm_a"))
        assert r.status_code == 409 and r.json()["error"]["code"] == "invitation_quota"
        r = city.client.post(f"{API}/invitations/{inv['id']}/withdraw", headers=city.h("cm_b"))
        assert r.status_code == 404
        r = city.client.post(f"{API}/invitations/{inv['id']}/withdraw", headers=city.h("rm_a"))
        assert r.status_code == 200 and r.json()["status"] == "withdrawn"
        monkeypatch.setattr(city.settings, "acquisition_invitations_daily", 10)
        second = city.client.post(
            f"{API}/invitations", json={"uscc": city.b}, headers=city.h("cm_a")
        ).json()
        with city.factory.begin() as s:
            later = datetime.now(UTC) + timedelta(
                days=city.settings.acquisition_invitation_days + 1
            )
            due = s.scalars(
                select(Invitation.id).where(
                    Invitation.status == "pending", Invitation.expires_at <= later
                )
            ).all()
            assert second["id"] in due  # (other tests' committed rows may share the database)
            assert leads.expire_invitations(s, now=later) == len(due)
            assert s.get(Invitation, second["id"]).status == "expired"
        listed = city.client.get(f"{API}/invitations?status=expired", headers=city.h("cm_a")).json()
        assert [i["id"] for i in listed["items"]] == [second["id"]]
