"""Models end to end on a 600-entity world: training from an uploaded sample in a job,
the maker/checker approval machine, exports, scoring named entities under their
authorizations (refused per USCC with the reason), batch scoring into ranked leads
without opted-out entities, and the audit trail of each scoring call."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score
from sqlalchemy import func, select

from puhui.audit.models import AuditEvent
from puhui.consent.errors import ConsentRequired
from puhui.consent.models import QueryRecord
from puhui.core.errors import PermissionDenied
from puhui.core.policy import Actor, InstitutionKind, Role
from puhui.scoring import service
from puhui.scoring.errors import NotApproved, SameMaker, VersionNotFound, VersionStateConflict
from puhui.scoring.models import APPROVED, DRAFT, PENDING, REJECTED, RETIRED
from puhui.scoring.scorecard import Scorecard
from tests.scoring.synthetic import KINDS

CARD: dict[str, Any] = {
    "base_points": 600,
    "features": [
        {
            "indicator": "OPR_TAX_TOTAL_12M",
            "kind": "numeric",
            "bins": [
                {"lo": None, "hi": 30000, "points": -30, "reason": "LOW_TAX"},
                {"lo": 30000, "hi": 150000, "points": 0, "reason": "LOW_TAX"},
                {"lo": 150000, "hi": None, "points": 35},
            ],
            "missing": {"points": -40, "reason": "NO_TAX"},
        },
        {
            "indicator": "NEG_RECORDS_TOTAL",
            "kind": "numeric",
            "bins": [
                {"lo": None, "hi": 1, "points": 20},
                {"lo": 1, "hi": None, "points": -45, "reason": "NEGATIVE"},
            ],
            "missing": {"points": 0},
        },
        {
            "indicator": "OPR_TAX_CREDIT_GRADE",
            "kind": "categorical",
            "bins": [
                {"values": ["A", "B"], "points": 25},
                {"values": ["M", "C", "D"], "points": -25, "reason": "TAX_GRADE"},
            ],
            "missing": {"points": -5},
        },
    ],
    "cutoffs": [{"label": "approve", "min_score": 620}, {"label": "review", "min_score": 560}],
    "reasons": {
        "LOW_TAX": "Low tax paid",
        "NO_TAX": "No tax record",
        "NEGATIVE": "Negative records",
        "TAX_GRADE": "Low tax-credit grade",
    },
}


def _model(world, who: str = "rm_a", name: str = "小微评分卡") -> int:
    r = world.client.post("/api/v1/models", json={"name": name}, headers=world.h(who))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _version(world, model_id: int, card: dict[str, Any] | None = None, who: str = "rm_a") -> int:
    r = world.client.post(
        f"/api/v1/models/{model_id}/versions",
        json={"definition": card or CARD},
        headers=world.h(who),
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _change(world, version_id: int, change: str, who: str) -> Any:
    return world.client.post(
        f"/api/v1/model-versions/{version_id}/{change}", json={"note": "ok"}, headers=world.h(who)
    )


def _approved(world) -> tuple[int, int]:
    model_id = _model(world)
    version_id = _version(world, model_id)
    assert _change(world, version_id, "submit", "rm_a").status_code == 200
    assert _change(world, version_id, "approve", "admin_a").status_code == 200
    return model_id, version_id


def _actor(world, who: str) -> Actor:
    user = world.users[who]
    return Actor(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        institution_id=user.institution_id,
        institution_kind=InstitutionKind.BANK if user.institution_id else None,
    )


class TestTraining:
    def test_a_sample_trains_a_draft_version_in_a_job(self, world):
        model_id = _model(world)
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["uscc", "outcome"])
        for code, b in zip(world.usccs, world.bad, strict=True):
            writer.writerow([code.lower(), "bad" if b else "good"])  # lower case is accepted
        r = world.client.post(
            f"/api/v1/models/{model_id}/training",
            files={"file": ("sample.csv", buf.getvalue().encode(), "text/csv")},
            data={"features": " ".join(KINDS)},
            headers=world.h("rm_a"),
        )
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "queued" and r.json()["n_matched"] == len(world.usccs)
        world.drain()
        (run,) = world.client.get(
            f"/api/v1/models/{model_id}/training", headers=world.h("cm_a")
        ).json()
        assert run["status"] == "done", run
        v = world.client.get(
            f"/api/v1/model-versions/{run['version_id']}", headers=world.h("rm_a")
        ).json()
        assert v["status"] == "draft" and v["source"] == "trained"
        true_auc = roc_auc_score(world.bad, world.z)
        assert v["metrics"]["auc"] == pytest.approx(true_auc, abs=0.1)  # 180 held out
        assert v["binning"] and "OPR_TAX_TOTAL_12M" in v["features"]
        # only aggregates come back: no entity, no feature value
        assert not any(u in json.dumps(v) for u in world.usccs[:50])
        assert Scorecard.from_json(v["scorecard"]).features == tuple(v["features"])

    def test_a_bad_sample_is_refused_naming_the_rows(self, world):
        model_id = _model(world)
        body = "uscc,outcome\n" + f"{world.usccs[0]},bad\nnot-a-code,good\n{world.usccs[1]},maybe\n"
        r = world.client.post(
            f"/api/v1/models/{model_id}/training",
            files={"file": ("s.csv", body.encode(), "text/csv")},
            headers=world.h("rm_a"),
        )
        assert r.status_code == 422
        fields = [d["field"] for d in r.json()["error"]["details"]]
        assert fields == ["rows.3.uscc", "rows.4.outcome"]

    def test_too_few_registered_entities_is_refused(self, world):
        model_id = _model(world)
        rows = [{"uscc": u, "outcome": i % 2} for i, u in enumerate(world.usccs[:50])]
        r = world.client.post(
            f"/api/v1/models/{model_id}/training",
            files={"file": ("s.json", json.dumps(rows).encode(), "application/json")},
            headers=world.h("rm_a"),
        )
        assert r.status_code == 422 and "200" in r.json()["error"]["message"]


class TestApproval:
    def test_maker_cannot_check(self, world):
        model_id = _model(world)
        version_id = _version(world, model_id)
        assert _change(world, version_id, "submit", "rm_a").json()["status"] == PENDING
        r = _change(world, version_id, "approve", "rm_a")
        assert r.status_code == 403 and r.json()["error"]["code"] == "maker_checker"
        r = _change(world, version_id, "approve", "rm2_a")  # another risk manager
        assert r.status_code == 200 and r.json()["status"] == APPROVED

    def test_wrong_state_and_wrong_role_and_other_bank(self, world):
        model_id = _model(world)
        version_id = _version(world, model_id)
        assert _change(world, version_id, "approve", "admin_a").status_code == 409
        assert _change(world, version_id, "submit", "cm_a").status_code == 403
        assert _change(world, version_id, "submit", "rm_b").status_code == 404
        _change(world, version_id, "submit", "rm_a")
        assert _change(world, version_id, "submit", "rm_a").status_code == 409
        assert _change(world, version_id, "reject", "rm_b").status_code == 404
        assert _change(world, version_id, "reject", "admin_a").json()["status"] == REJECTED
        assert _change(world, version_id, "approve", "admin_a").status_code == 409

    def test_only_an_approved_version_scores(self, world):
        model_id = _model(world)
        version_id = _version(world, model_id)
        with world.factory() as s:
            with pytest.raises(NotApproved):
                service.approved_version(s, version_id=version_id, institution_id=world.banks["a"])
            with pytest.raises(VersionNotFound):
                service.approved_version(s, version_id=version_id, institution_id=world.banks["b"])

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(["submit", "approve", "reject", "retire"]),
                st.sampled_from(["rm_a", "rm2_a", "admin_a"]),
            ),
            max_size=6,
        )
    )
    def test_machine_property(self, world, steps):
        """Whatever is tried, a version moves only along TRANSITIONS, an approval is
        never the maker's, and a refused step changes nothing."""
        with world.factory() as s:
            model = service.create_model(
                s, actor=_actor(world, "rm_a"), data=service.ModelCreate(name=f"m{id(steps)}")
            )
            v = service.add_scorecard(
                s, actor=_actor(world, "rm_a"), model_id=model.id, definition=CARD
            )
            state = DRAFT
            for change, who in steps:
                actor = _actor(world, who)
                expected = service.TRANSITIONS.get((state, change))
                try:
                    with s.begin_nested():
                        out = service.change_state(s, actor=actor, version_id=v.id, change=change)
                except (VersionStateConflict, SameMaker, PermissionDenied):
                    s.refresh(v)
                    assert v.status == state
                    continue
                assert expected is not None and out.status == expected
                if change == "submit":
                    assert who in ("rm_a", "rm2_a")
                if change in ("approve", "reject"):
                    assert actor.user_id not in (v.created_by, v.submitted_by)
                state = out.status
            assert state in (DRAFT, PENDING, APPROVED, REJECTED, RETIRED)
            s.rollback()


class TestExport:
    def test_json_and_sql(self, world):
        _, version_id = _approved(world)
        r = world.client.get(
            f"/api/v1/model-versions/{version_id}/export.json", headers=world.h("rm_a")
        )
        assert Scorecard.from_json(r.json()["scorecard"]) == Scorecard.from_json(CARD)
        sql = world.client.get(
            f"/api/v1/model-versions/{version_id}/export.sql", headers=world.h("rm_a")
        ).text
        assert "CASE WHEN opr_tax_total_12m IS NULL THEN (-40.0)" in sql
        assert (
            world.client.get(
                f"/api/v1/model-versions/{version_id}/export.sql", headers=world.h("cm_a")
            ).status_code
            == 403
        )


def _score(world, model_id: int, usccs: list[str], who: str = "cm_a", **body: Any) -> Any:
    return world.client.post(
        f"/api/v1/models/{model_id}/scores",
        json={"usccs": usccs, **body},
        headers=world.h(who),
    )


class TestScoringNamedEntities:
    def test_scores_authorized_entities_and_refuses_the_rest_per_uscc(self, world):
        model_id, version_id = _approved(world)
        ok, wrong_purpose, none, other_bank, expired = world.usccs[:5]
        world.consent(ok, purposes=("decision", "query"))
        world.consent(wrong_purpose, purposes=("monitoring",))
        world.consent(other_bank, bank="b")
        from datetime import timedelta

        from puhui.core.orm import utcnow

        world.consent(
            expired, expires_at=utcnow() - timedelta(days=1), starts_at=utcnow() - timedelta(days=9)
        )
        from puhui.entities import service as entities

        unknown = entities.make("91330203MA0999999")
        usccs = [ok, wrong_purpose, none, other_bank, expired, unknown, "X"]
        r = _score(world, model_id, usccs)
        assert r.status_code == 200, r.text
        items = {i["uscc"]: i for i in r.json()["items"]}
        assert items[ok]["status"] == "scored" and isinstance(items[ok]["score"], float)
        refusals = {u: i["refusal"] for u, i in items.items() if i["status"] == "refused"}
        assert refusals == {
            wrong_purpose: "wrong_purpose",
            none: "none",
            other_bank: "none",
            expired: "expired",
            unknown: "unknown_entity",
            "X": "invalid_uscc",
        }
        assert all(items[u]["message"] for u in refusals)
        # the platform's own score for the same row
        with world.factory() as s:
            (result,) = service.score_usccs(
                s, version_id=version_id, institution_id=world.banks["a"], usccs=[ok]
            )
        assert result.score == pytest.approx(items[ok]["score"], abs=1e-4)
        assert result.reasons == items[ok]["reasons"]

    def test_query_purpose_and_other_purposes(self, world):
        model_id, _ = _approved(world)
        code = world.usccs[7]
        world.consent(code, purposes=("query",))
        assert _score(world, model_id, [code], purpose="query").json()["scored"] == 1
        assert (
            _score(world, model_id, [code], purpose="decision").json()["items"][0]["refusal"]
            == "wrong_purpose"
        )
        assert _score(world, model_id, [code], purpose="monitoring").status_code == 422

    def test_out_of_scope_categories_are_refused(self, world):
        model_id, _ = _approved(world)
        code = world.usccs[8]
        world.consent(code, categories=["basic"])
        item = _score(world, model_id, [code]).json()["items"][0]
        assert item["refusal"] == "out_of_scope"

    def test_every_call_is_audited_and_each_read_recorded(self, world):
        model_id, _ = _approved(world)
        a, b = world.usccs[10:12]
        world.consent(a)
        with world.factory() as s:
            before = s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "scoring.score")
            )
        _score(world, model_id, [a, b])
        with world.factory() as s:
            events = s.scalars(select(AuditEvent).where(AuditEvent.action == "scoring.score")).all()
            assert len(events) == before + 1
            assert events[-1].details["scored"] == 1
            assert events[-1].details["refused"] == [{"uscc": b, "reason": "none"}]
            records = s.scalars(select(QueryRecord).where(QueryRecord.kind == "score")).all()
            assert [r.entity_id for r in records] == [world.ids[a]]

    def test_the_interface_raises_on_a_refusal(self, world):
        _, version_id = _approved(world)
        with world.factory() as s, pytest.raises(ConsentRequired) as exc:
            service.score_usccs(
                s, version_id=version_id, institution_id=world.banks["a"], usccs=[world.usccs[20]]
            )
        assert exc.value.details[0]["params"]["reason"] == "none"

    def test_unapproved_and_foreign_models(self, world):
        model_id = _model(world)
        _version(world, model_id)
        assert _score(world, model_id, [world.usccs[0]]).status_code == 409
        assert _score(world, model_id, [world.usccs[0]], who="rm_b").status_code == 404
        assert _score(world, model_id, [world.usccs[0]], who="admin_a").status_code == 403


class TestBatchAndLeads:
    def test_every_entity_ranked_opt_outs_excluded(self, world):
        _, version_id = _approved(world)
        r = world.client.post(f"/api/v1/model-versions/{version_id}/batch", headers=world.h("rm_a"))
        assert r.status_code == 202
        world.drain()
        (run,) = world.client.get(
            f"/api/v1/model-versions/{version_id}/batch", headers=world.h("cm_a")
        ).json()
        assert run["status"] == "done" and run["n_scored"] == len(world.usccs)
        page = world.client.get(
            f"/api/v1/model-versions/{version_id}/leads?limit=100", headers=world.h("cm_a")
        ).json()
        assert page["total"] == len(world.usccs)
        scores = [lead["score"] for lead in page["items"]]
        assert scores == sorted(scores, reverse=True)
        assert [lead["rank"] for lead in page["items"]] == list(range(1, 101))
        # the enterprise opts out: gone from the leads at once
        r = world.client.put(
            "/api/v1/me/marketing", json={"opted_out": True}, headers=world.h("ent")
        )
        assert r.status_code == 200
        page = world.client.get(
            f"/api/v1/model-versions/{version_id}/leads?limit=100&offset=0", headers=world.h("cm_a")
        ).json()
        assert page["total"] == len(world.usccs) - 1
        all_codes = set()
        for offset in range(0, page["total"], 100):
            chunk = world.client.get(
                f"/api/v1/model-versions/{version_id}/leads?limit=100&offset={offset}",
                headers=world.h("cm_a"),
            ).json()
            all_codes |= {lead["uscc"] for lead in chunk["items"]}
        assert world.users["ent"].entity_uscc not in all_codes
        assert len(all_codes) == len(world.usccs) - 1

    def test_download_csv_and_xlsx(self, world):
        _, version_id = _approved(world)
        world.client.post(f"/api/v1/model-versions/{version_id}/batch", headers=world.h("rm_a"))
        world.drain()
        r = world.client.get(
            f"/api/v1/model-versions/{version_id}/leads.csv?limit=50", headers=world.h("cm_a")
        )
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert rows[0][:2] == ["rank", "uscc"] and len(rows) == 51
        r = world.client.get(
            f"/api/v1/model-versions/{version_id}/leads.xlsx", headers=world.h("cm_a")
        )
        assert r.status_code == 200 and r.content[:2] == b"PK"
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0]
        assert sum(1 for _ in sheet.iter_rows()) == len(world.usccs) + 1
        assert (
            world.client.get(
                f"/api/v1/model-versions/{version_id}/leads.pdf", headers=world.h("cm_a")
            ).status_code
            == 422
        )

    def test_a_draft_does_not_batch_and_no_run_is_a_conflict(self, world):
        model_id = _model(world)
        version_id = _version(world, model_id)
        assert (
            world.client.post(
                f"/api/v1/model-versions/{version_id}/batch", headers=world.h("rm_a")
            ).status_code
            == 409
        )
        assert (
            world.client.get(
                f"/api/v1/model-versions/{version_id}/leads", headers=world.h("rm_a")
            ).status_code
            == 409
        )


class TestStability:
    def test_psi_of_the_same_population_is_small(self, world):
        _, version_id = _approved(world)
        report = world.client.get(
            f"/api/v1/model-versions/{version_id}/psi", headers=world.h("cm_a")
        ).json()
        assert report["baseline"] == "submission" and report["current_n"] == len(world.usccs)
        assert report["score_psi"] == pytest.approx(0, abs=1e-6)
        assert {f["indicator"] for f in report["features"]} == {
            f["indicator"] for f in CARD["features"]
        }

    def test_psi_moves_when_the_population_does(self, world):
        from puhui.scoring import training

        expected = [0.25, 0.25, 0.25, 0.25]
        assert training.psi(expected, [0.1, 0.2, 0.3, 0.4]) > training.psi(
            expected, [0.24, 0.26, 0.25, 0.25]
        )
        assert np.isfinite(training.psi(expected, [0.0, 0.0, 0.5, 0.5]))


class TestCatalogChecks:
    def test_a_card_on_a_non_key_or_mistyped_indicator_is_refused(self, world):
        model_id = _model(world)
        bad = json.loads(json.dumps(CARD))
        bad["features"][0]["indicator"] = "NOT_AN_INDICATOR"
        bad["features"][2]["bins"][0]["values"] = ["A", "Q"]
        bad["features"][1]["kind"] = "categorical"
        bad["features"][1]["bins"] = [{"values": ["1"], "points": 1}]
        r = world.client.post(
            f"/api/v1/models/{model_id}/versions", json={"definition": bad}, headers=world.h("rm_a")
        )
        assert r.status_code == 422
        fields = [d["field"] for d in r.json()["error"]["details"]]
        assert fields == ["features.0.indicator", "features.1.kind", "features.2.bins.0.values"]
