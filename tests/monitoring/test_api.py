"""Monitoring over the API and the pages: watchlist (one, upload, from a granted loan),
rules (templates, validation, versions), alerts (filters, lifecycle, bulk across pages),
statistics."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from puhui.core import jobs
from puhui.core.orm import utcnow
from puhui.core.policy import Role
from puhui.monitoring import service
from puhui.monitoring.models import Alert, RuleSet, Watch
from tests import factories
from tests.conftest import csrf_from
from tests.monitoring.helpers import build, rule


@pytest.fixture
def world(session, tmp_path):
    return build(session, tmp_path / "lake")


@pytest.fixture
def auth(client, world):
    return factories.token(client, world.manager.username)


def _alerts(session, world, n: int, *, severity: str = "high") -> list[int]:
    r = rule(session, world, "OPR_TAX_ARREARS", "threshold", "gt", 0, severity=severity)
    ids = []
    for k in range(n):
        a = Alert(
            institution_id=world.bank.id,
            entity_id=world.ids[k % len(world.ids)],
            rule_id=r.id,
            indicator_id=r.indicator_id,
            period=202001 + k,
            kind="threshold",
            severity=severity,
            value=float(k),
            threshold=0,
            op="gt",
            rule_set_version=1,
            status="new",
            note="",
            batch_id=None,
        )
        session.add(a)
        session.flush()
        ids.append(a.id)
    return ids


class TestWatchlist:
    def test_add_list_assign_remove(self, client, session, world, auth):
        entity = factories.uscc()
        from puhui.entities import service as entities
        from tests.entities.factories import record

        rec = record("新借款人")
        entities.upsert(session, [rec])
        r = client.post(
            "/api/v1/monitoring/watchlist",
            json={"uscc": rec.uscc.lower(), "assignees": [world.manager.id]},
            headers=auth,
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert (body["state"], body["source"], body["assignees"]) == (
            "pending",
            "api",
            [world.manager.id],
        )
        again = client.post("/api/v1/monitoring/watchlist", json={"uscc": rec.uscc}, headers=auth)
        assert again.status_code == 409
        listed = client.get("/api/v1/monitoring/watchlist", headers=auth).json()
        assert listed["total"] == 4
        assert {w["state"] for w in listed["items"]} == {"pending", "monitored"}
        removed = client.delete(f"/api/v1/monitoring/watchlist/{body['id']}", headers=auth)
        assert removed.status_code == 204
        assert client.get("/api/v1/monitoring/watchlist", headers=auth).json()["total"] == 3
        back = client.post("/api/v1/monitoring/watchlist", json={"uscc": rec.uscc}, headers=auth)
        assert back.status_code == 201 and back.json()["id"] == body["id"]
        del entity

    def test_bad_uscc_and_foreign_assignee_name_the_field(self, client, session, world, auth):
        r = client.post(
            "/api/v1/monitoring/watchlist", json={"uscc": "91330203MA0000000X"}, headers=auth
        )
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "uscc"
        stranger = factories.user(session, Role.RISK_MANAGER)  # of another bank
        r = client.post(
            "/api/v1/monitoring/watchlist",
            json={"uscc": world.usccs[0], "assignees": [stranger.id]},
            headers=auth,
        )
        assert r.status_code in (409, 422)

    def test_csv_upload_keeps_good_rows_and_reports_each_bad_one(
        self, client, session, world, auth
    ):
        from puhui.entities import service as entities
        from tests.entities.factories import record

        recs = [record("上传一"), record("上传二")]
        entities.upsert(session, recs)
        text = "uscc,note\n" + "\n".join(
            [recs[0].uscc, "not-a-code", recs[1].uscc + ",第二户", world.usccs[0], ""]
        )
        r = client.post(
            "/api/v1/monitoring/watchlist/upload",
            files={"file": ("list.csv", text.encode("utf-8-sig"), "text/csv")},
            headers=auth,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["added"], body["already"]) == (2, 1)
        assert [(e["row"], e["field"]) for e in body["errors"]] == [(3, "uscc")]

    def test_xlsx_upload(self, client, session, world, auth):
        from puhui.entities import service as entities
        from tests.entities.factories import record

        rec = record("表格企业")
        entities.upsert(session, [rec])
        book = Workbook()
        sheet = book.active
        sheet.append(["统一社会信用代码", "备注"])
        sheet.append([rec.uscc, "x"])
        sheet.append(["91330203MA0000000X", ""])
        buf = io.BytesIO()
        book.save(buf)
        r = client.post(
            "/api/v1/monitoring/watchlist/upload",
            files={"file": ("list.xlsx", buf.getvalue(), "application/octet-stream")},
            headers=auth,
        )
        assert r.status_code == 200, r.text
        assert r.json()["added"] == 1 and r.json()["errors"][0]["row"] == 3

    def test_a_file_without_a_uscc_column_is_refused(self, client, auth):
        r = client.post(
            "/api/v1/monitoring/watchlist/upload",
            files={"file": ("x.csv", b"name\nfoo\n", "text/csv")},
            headers=auth,
        )
        assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "file"

    def test_a_granted_loan_puts_the_borrower_on_the_list(self, session, world):
        from puhui.entities import service as entities
        from tests.entities.factories import record

        rec = record("贷款企业")
        entities.upsert(session, [rec])
        entity_id = entities.ids_for(session, [rec.uscc])[rec.uscc]
        payload = {
            "claim_id": 7,
            "institution_id": world.bank.id,
            "entity_id": entity_id,
            "user_id": world.manager.id,
        }
        service.watch_granted_loan(session, payload)
        service.watch_granted_loan(session, payload)  # a job run twice
        watches = session.scalars(select(Watch).where(Watch.entity_id == entity_id)).all()
        assert [(w.source, w.claim_id) for w in watches] == [("matching", 7)]


class TestRules:
    def test_template_custom_and_versions(self, client, session, world, auth):
        r = client.post("/api/v1/monitoring/rules", json={"template": "seizure"}, headers=auth)
        assert r.status_code == 201, r.text
        assert (r.json()["kind"], r.json()["indicator"], r.json()["revision"]) == (
            "new_event",
            "PRP_REAL_ESTATE_SEIZED",
            1,
        )
        custom = client.post(
            "/api/v1/monitoring/rules",
            json={
                "name": "用电骤降",
                "indicator": "OPR_POWER_YOY",
                "kind": "threshold",
                "op": "lt",
                "threshold": -50,
                "severity": "medium",
            },
            headers=auth,
        )
        assert custom.status_code == 201
        rid = custom.json()["id"]
        off = client.patch(f"/api/v1/monitoring/rules/{rid}", json={"enabled": False}, headers=auth)
        assert off.json()["enabled"] is False and off.json()["revision"] == 3
        listed = client.get("/api/v1/monitoring/rules", headers=auth).json()
        assert listed["version"] == 3 and len(listed["rules"]) == 2
        queued = session.scalars(
            select(jobs.Job).where(jobs.Job.kind == service.EVALUATE_ALL_JOB)
        ).all()
        assert len(queued) == 3  # one full re-evaluation per rule-set version
        assert session.get(RuleSet, world.bank.id).version == 3

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"template": "nope"}, "template"),
            (
                {
                    "name": "x",
                    "indicator": "OPR_TAX_TOTAL",
                    "kind": "threshold",
                    "op": "gt",
                    "threshold": 1,
                    "severity": "low",
                },
                "indicator",
            ),  # not a warning indicator
            (
                {
                    "name": "x",
                    "indicator": "OPR_TAX_ARREARS",
                    "kind": "threshold",
                    "severity": "low",
                },
                "op",
            ),
            (
                {
                    "name": "x",
                    "indicator": "OPR_TAX_ARREARS",
                    "kind": "new_event",
                    "severity": "low",
                },
                "kind",
            ),  # an amount has no "new record"
            ({"indicator": "OPR_TAX_ARREARS", "kind": "threshold", "severity": "low"}, "name"),
            ({"template": "seizure", "status": "x"}, "status"),
        ],
    )
    def test_invalid_rules_name_the_field(self, client, auth, body, field):
        r = client.post("/api/v1/monitoring/rules", json=body, headers=auth)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"][0]["field"].endswith(field)

    def test_snooze_needs_today_or_later(self, client, session, world, auth):
        r = rule(session, world, "OPR_TAX_ARREARS", "threshold")
        today = utcnow().astimezone(service.SHANGHAI).date()
        ok = client.post(
            f"/api/v1/monitoring/rules/{r.id}/snoozes",
            json={"uscc": world.usccs[0], "until": (today + timedelta(days=7)).isoformat()},
            headers=auth,
        )
        assert ok.status_code == 201, ok.text
        past = client.post(
            f"/api/v1/monitoring/rules/{r.id}/snoozes",
            json={"uscc": world.usccs[0], "until": (today - timedelta(days=1)).isoformat()},
            headers=auth,
        )
        assert past.status_code == 422 and past.json()["error"]["details"][0]["field"] == "until"
        listed = client.get(f"/api/v1/monitoring/rules/{r.id}/snoozes", headers=auth).json()
        assert [s["uscc"] for s in listed] == [world.usccs[0]]
        gone = client.delete(
            f"/api/v1/monitoring/rules/{r.id}/snoozes?uscc={world.usccs[0]}", headers=auth
        )
        assert gone.status_code == 204
        assert client.get(f"/api/v1/monitoring/rules/{r.id}/snoozes", headers=auth).json() == []


class TestAlerts:
    def test_list_filter_and_page(self, client, session, world, auth):
        _alerts(session, world, 25)
        page = client.get("/api/v1/monitoring/alerts?per_page=10&page=3", headers=auth).json()
        assert (page["total"], page["pages"], len(page["items"])) == (25, 3, 5)
        one = client.get(
            f"/api/v1/monitoring/alerts?uscc={world.usccs[1]}&severity=high", headers=auth
        ).json()
        assert one["total"] == 8
        none = client.get("/api/v1/monitoring/alerts?status=closed", headers=auth).json()
        assert none["total"] == 0
        bad = client.get("/api/v1/monitoring/alerts?status=odd", headers=auth)
        assert bad.status_code == 422

    def test_lifecycle_with_notes_and_outcome(self, client, session, world, auth):
        (aid,) = _alerts(session, world, 1)
        act = f"/api/v1/monitoring/alerts/{aid}/actions"
        early = client.post(
            act, json={"action": "handle", "outcome": "confirmed_risk", "note": "x"}, headers=auth
        )
        assert early.status_code == 422
        assert client.post(act, json={"action": "acknowledge"}, headers=auth).status_code == 200
        no_note = client.post(
            act, json={"action": "handle", "outcome": "false_positive"}, headers=auth
        )
        assert no_note.status_code == 422
        assert no_note.json()["error"]["details"][0]["field"] == "note"
        handled = client.post(
            act,
            json={"action": "handle", "outcome": "false_positive", "note": "数据错误"},
            headers=auth,
        ).json()
        assert (handled["status"], handled["outcome"], handled["note"]) == (
            "handled",
            "false_positive",
            "数据错误",
        )
        closed = client.post(act, json={"action": "close"}, headers=auth).json()
        assert closed["status"] == "closed" and closed["closed_at"]
        detail = client.get(f"/api/v1/monitoring/alerts/{aid}", headers=auth).json()
        assert detail["alert"]["status"] == "closed"
        assert detail["trend"] is not None  # authorized: the (empty) history was read

    def test_bulk_across_pages_selects_all_matching_the_filter(self, client, session, world, auth):
        ids = _alerts(session, world, 130)
        r = client.post(
            "/api/v1/monitoring/alerts/bulk",
            json={
                "action": "acknowledge",
                "all_matching": True,
                "filter": {"uscc": world.usccs[0]},
            },
            headers=auth,
        )
        assert r.json() == {"changed": 44, "skipped": 0}
        r = client.post(
            "/api/v1/monitoring/alerts/bulk",
            json={"action": "acknowledge", "ids": ids[:3]},
            headers=auth,
        )
        assert r.json() == {"changed": 2, "skipped": 1}  # ids[0] was acknowledged already
        r = client.post(
            "/api/v1/monitoring/alerts/bulk",
            json={
                "action": "handle",
                "all_matching": True,
                "filter": {"status": "acknowledged"},
                "outcome": "confirmed_risk",
                "note": "已催收",
            },
            headers=auth,
        )
        assert r.json()["changed"] == 46
        statuses = session.scalars(select(Alert.status).where(Alert.id.in_(ids))).all()
        assert sorted(set(statuses)) == ["handled", "new"]

    def test_another_banks_alert_is_not_found(self, client, session, world, auth, tmp_path):
        other = build(session, tmp_path / "other")
        (aid,) = _alerts(session, other, 1)
        assert client.get(f"/api/v1/monitoring/alerts/{aid}", headers=auth).status_code == 404
        r = client.post(
            "/api/v1/monitoring/alerts/bulk",
            json={"action": "acknowledge", "ids": [aid]},
            headers=auth,
        )
        assert r.json() == {"changed": 0, "skipped": 1}

    def test_statistics(self, client, session, world, auth):
        _alerts(session, world, 6)
        _alerts(session, world, 3, severity="low")
        stats = client.get("/api/v1/monitoring/stats", headers=auth).json()
        assert (stats["total"], stats["entities"]) == (9, 3)
        assert sum(d["alerts"] for d in stats["per_day"]) == 9
        assert len(stats["per_day"]) == 30
        sev = {k["key"]: k["alerts"] for k in stats["by_severity"]}
        assert sev == {"high": 6, "medium": 0, "low": 3}
        assert stats["by_indicator"][0]["key"] == "OPR_TAX_ARREARS"
        bad = client.get("/api/v1/monitoring/stats?since=2026-02-01&until=2026-01-01", headers=auth)
        assert bad.status_code == 422


class TestPages:
    def test_every_page_renders_and_forms_work(self, client, session, world):
        ids = _alerts(session, world, 3)
        csrf = factories.web_login(client, world.manager.username)
        for path in (
            "/monitoring/watchlist",
            "/monitoring/rules",
            "/monitoring/alerts",
            f"/monitoring/alerts/{ids[0]}",
            "/monitoring/stats",
        ):
            r = client.get(path)
            assert r.status_code == 200, (path, r.text[:300])
        page = client.get(f"/monitoring/alerts/{ids[0]}").text
        assert "trend-chart" in page
        r = client.post(
            f"/monitoring/alerts/{ids[0]}/action",
            data={"csrf_token": csrf, "action": "acknowledge"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        r = client.post(
            "/monitoring/alerts/bulk",
            data={"csrf_token": csrf, "action": "acknowledge", "all_matching": "1"},
        )
        assert r.status_code == 200 and "2" in r.text
        r = client.post(
            "/monitoring/rules",
            data={"csrf_token": csrf, "template": "tax_arrears"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        bad = client.post("/monitoring/rules", data={"csrf_token": csrf, "indicator": "X"})
        assert bad.status_code == 422 and "field-error" in bad.text
        r = client.post("/monitoring/watchlist", data={"csrf_token": csrf, "uscc": "bad"})
        assert r.status_code == 422
        r = client.post(
            "/monitoring/watchlist/upload",
            data={"csrf_token": csrf},
            files={"file": ("l.csv", b"uscc\nbad\n", "text/csv")},
        )
        assert r.status_code == 200 and "upload-result" in r.text
        assert csrf_from(client.get("/monitoring/stats?since=bad").text)
