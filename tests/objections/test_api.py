"""Objections over the API: the flag every viewer of the profile sees, a correction
written back with lineage and history, attachments for the parties only, and who may do
what."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta

import pytest

from puhui.catalog import service as catalog
from puhui.core.masking import masked
from puhui.core.security import fields, sealed_files
from puhui.entities import service as entities
from puhui.ingest import service as ingest
from puhui.objections import service
from puhui.objections.models import ObjectionAttachment
from tests import factories
from tests.city import ID_A, drain

ALL = ["basic", "property", "financial", "operating", "positive", "negative", "credit_evaluation"]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _grant(town) -> None:
    r = town.client.post(
        "/api/v1/consents",
        json={
            "institution_id": town.banks["a"],
            "purposes": ["query"],
            "categories": ALL,
            "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        },
        headers=town.h("ent_a"),
    )
    assert r.status_code == 201, r.text


def _value(profile: dict, code: str) -> dict:
    for block in profile["categories"]:
        for v in block["indicators"]:
            if v["code"] == code:
                return v
    raise AssertionError(code)


def _raise(town, who="ent_a") -> dict:
    r = town.client.post(
        "/api/v1/objections",
        json={"indicator": "OPR_TAX_TOTAL_YOY", "period": 202609, "reason": "增长率算错了"},
        headers=town.h(who),
    )
    assert r.status_code == 201, r.text
    return r.json()


def _profile(town, who="cm_a") -> dict:
    r = town.client.get(f"/api/v1/entities/{town.a}/profile", headers=town.h(who))
    assert r.status_code == 200, r.text
    return r.json()


class TestFlagAndCorrection:
    def test_the_flag_reaches_negative_records_and_trends_too(self, town):
        _grant(town)
        for code, period in (("NEG_ABNORMAL_OPERATION", 202607), ("OPR_SS_HEADCOUNT_M", 202608)):
            r = town.client.post(
                "/api/v1/objections",
                json={"indicator": code, "period": period, "reason": "该记录有误请核实"},
                headers=town.h("ent_a"),
            )
            assert r.status_code == 201, r.text
        profile = _profile(town)
        negatives = {n["code"]: n for n in profile["negative_records"]}
        assert negatives["NEG_ABNORMAL_OPERATION"]["under_objection"] is True
        assert negatives["NEG_ADMIN_PENALTIES_36M"]["under_objection"] is False
        trends = {t["code"]: t for t in profile["trends"]}
        assert trends["OPR_SS_HEADCOUNT_M"]["disputed_periods"] == [202608]
        pdf = town.client.get(f"/api/v1/entities/{town.a}/report.pdf", headers=town.h("cm_a"))
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    def test_a_bank_sees_the_flag_and_then_the_corrected_value_with_history(self, town):
        _grant(town)
        assert _value(_profile(town), "OPR_TAX_TOTAL_YOY")["under_objection"] is False
        o = _raise(town)
        assert o["status"] == "submitted" and o["value"] == "0.2"
        assert _value(_profile(town), "OPR_TAX_TOTAL_YOY")["under_objection"] is True
        assert _value(_profile(town), "OPR_INV_SALES_YOY")["under_objection"] is False
        factories.web_login(town.client, town.users["cm_a"].username)
        page = town.client.get(f"/entities/{town.a}/profile")
        town.client.cookies.clear()
        assert page.status_code == 200 and "异议中" in page.text  # the badge
        r = town.client.post(
            f"/api/v1/objections/{o['id']}/route", json={}, headers=town.h("operator")
        )
        assert r.status_code == 200 and r.json()["routed_source"] == "TAX", r.text
        r = town.client.post(
            f"/api/v1/objections/{o['id']}/answer",
            json={
                "outcome": "corrected",
                "explanation": "申报数据有误，已更正",
                "corrected_value": "0.35",
            },
            headers=town.h("steward_tax"),
        )
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["corrected_value"]) == ("answered", "0.35")
        drain(town.factory)
        done = town.client.get(f"/api/v1/objections/{o['id']}", headers=town.h("ent_a")).json()
        assert done["correction_batch_id"]
        tax = _value(_profile(town), "OPR_TAX_TOTAL_YOY")
        assert (tax["value"], tax["period"], tax["under_objection"]) == (0.35, 202609, False)
        assert tax["batch_id"] == done["correction_batch_id"]
        assert tax["source"]["code"] == "TAX"  # lineage: the department that corrected it
        lake = ingest.open_lake(town.settings)
        with town.factory() as s:
            entity_id = entities.ids_for(s, [town.a])[town.a]
            indicator_id = catalog.get(s, code="OPR_TAX_TOTAL_YOY").id
        rows = lake.history(entity_id, [indicator_id], include_superseded=True)
        history = rows.filter(rows["period"] == 202609)["value_num"].to_list()
        assert history == [0.2, 0.35]  # the old value is kept

    def test_no_error_leaves_the_value_and_clears_the_flag(self, town):
        _grant(town)
        o = _raise(town)
        town.client.post(f"/api/v1/objections/{o['id']}/route", json={}, headers=town.h("operator"))
        r = town.client.post(
            f"/api/v1/objections/{o['id']}/answer",
            json={"outcome": "no_error", "explanation": "经核实无误"},
            headers=town.h("steward_tax"),
        )
        assert r.status_code == 200 and r.json()["outcome_label"], r.text
        tax = _value(_profile(town), "OPR_TAX_TOTAL_YOY")
        assert (tax["value"], tax["under_objection"]) == (0.2, False)

    def test_a_correction_must_fit_the_indicator(self, town):
        o = _raise(town)
        town.client.post(f"/api/v1/objections/{o['id']}/route", json={}, headers=town.h("operator"))
        r = town.client.post(
            f"/api/v1/objections/{o['id']}/answer",
            json={"outcome": "corrected", "explanation": "已更正数据", "corrected_value": "abc"},
            headers=town.h("steward_tax"),
        )
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "corrected_value"


class TestParties:
    def test_only_the_parties_see_an_objection(self, town):
        o = _raise(town)
        url = f"/api/v1/objections/{o['id']}"
        assert town.client.get(url, headers=town.h("ent_b")).status_code == 404
        assert town.client.get(url, headers=town.h("steward_tax")).status_code == 404  # unrouted
        assert town.client.get(url, headers=town.h("cm_a")).status_code == 403
        town.client.post(f"{url}/route", json={}, headers=town.h("operator"))
        assert town.client.get(url, headers=town.h("steward_tax")).status_code == 200
        assert town.client.get(url, headers=town.h("steward_samr")).status_code == 404
        assert town.client.get(url, headers=town.h("regulator")).status_code == 200
        queue = town.client.get("/api/v1/objections", headers=town.h("steward_samr")).json()
        assert queue["total"] == 0
        mine = town.client.get("/api/v1/objections", headers=town.h("ent_b")).json()
        assert mine["total"] == 0

    def test_attachments_are_checked_stored_encrypted_and_served_to_the_parties(self, town):
        o = _raise(town)
        url = f"/api/v1/objections/{o['id']}/attachments"
        bad = town.client.post(
            url, files={"file": ("x.exe", b"MZ\x90\x00", "image/png")}, headers=town.h("ent_a")
        )
        assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "file"
        r = town.client.post(
            url, files={"file": ("税单.png", PNG, "image/png")}, headers=town.h("ent_a")
        )
        assert r.status_code == 201, r.text
        att = r.json()
        assert att["content_type"] == "image/png" and len(att["sha256"]) == 64
        got = town.client.get(f"{url}/{att['id']}", headers=town.h("ent_a"))
        assert got.status_code == 200 and got.content == PNG
        assert got.headers["cache-control"] == "no-store"
        assert "filename*=utf-8''%E7%A8%8E%E5%8D%95.png" in got.headers["content-disposition"]
        assert town.client.get(f"{url}/{att['id']}", headers=town.h("ent_b")).status_code == 404
        assert town.client.get(f"{url}/{att['id']}", headers=town.h("operator")).status_code == 200
        # on disk: one encrypted file under a random name, nothing named by the digest
        folder = town.settings.data_dir / "objections"
        (stored,) = [p for p in folder.iterdir() if not p.name.startswith(".")]
        raw = stored.read_bytes()
        assert raw.startswith(b"PHOB1") and PNG not in raw and stored.name != att["sha256"]
        # the same content attached to another objection does not decrypt as this one
        with town.factory() as s:
            row = s.get(ObjectionAttachment, att["id"])
            assert row.stored_name == stored.name
            row.objection_id = row.objection_id + 1000
            with pytest.raises(fields.FieldCryptoError, match="not this record"):
                service._attachment_bytes(row, town.settings)
            s.rollback()

    def test_a_disputed_id_number_is_whole_for_the_parties_and_masked_for_the_others(self, town):
        r = town.client.post(
            "/api/v1/objections",
            json={"indicator": "BAS_LEGAL_REP_ID", "period": 202609, "reason": "身份证号有误"},
            headers=town.h("ent_a"),
        )
        assert r.status_code == 201, r.text
        oid = r.json()["id"]
        assert r.json()["value"] == ID_A  # the enterprise's own
        url = f"/api/v1/objections/{oid}"
        town.client.post(f"{url}/route", json={}, headers=town.h("operator"))
        assert town.client.get(url, headers=town.h("operator")).json()["value"] == masked(
            "id_number", ID_A
        )
        assert town.client.get(url, headers=town.h("steward_samr")).json()["value"] == ID_A
        overview = town.client.get("/api/v1/objections/overview", headers=town.h("regulator"))
        (item,) = [i for i in overview.json()["items"] if i["id"] == oid]
        assert item["value"] == masked("id_number", ID_A)
        assert ID_A not in overview.text
        _login_page = factories.web_login(town.client, town.users["operator"].username)
        assert _login_page and ID_A not in town.client.get("/objections").text
        town.client.cookies.clear()
        # a tax figure is not personal: everyone who may read the objection sees it
        figure = _raise(town)
        got = town.client.get(f"/api/v1/objections/{figure['id']}", headers=town.h("regulator"))
        assert got.json()["value"] == figure["value"] and figure["value"] is not None

    def test_key_rotation_encrypts_old_plain_attachments_and_re_encrypts_the_rest(self, town):
        o = _raise(town)
        url = f"/api/v1/objections/{o['id']}/attachments"
        new = town.client.post(
            url, files={"file": ("a.png", PNG, "image/png")}, headers=town.h("ent_a")
        ).json()
        folder = town.settings.data_dir / "objections"
        # an attachment from before encryption: a plain file named by its digest
        pdf = b"%PDF-1.4 13812345678"
        digest = hashlib.sha256(pdf).hexdigest()
        (folder / digest).write_bytes(pdf)
        with town.factory.begin() as s:
            old = ObjectionAttachment(objection_id=o["id"], filename="old.pdf",
                                      content_type="application/pdf", size_bytes=len(pdf),
                                      sha256=digest)  # fmt: skip
            s.add(old)
            s.flush()
            old_id = old.id
        got = town.client.get(f"{url}/{old_id}", headers=town.h("ent_a"))
        assert got.status_code == 200 and got.content == pdf  # served as it was
        keyring = fields.add_data_key()
        with town.factory.begin() as s:
            assert service.reseal_attachments(s, settings=town.settings) == 2
        with town.factory() as s:
            names = {a.id: a.stored_name for a in s.query(ObjectionAttachment)}
        assert not (folder / digest).exists()
        for name in names.values():
            raw = (folder / name).read_bytes()
            assert raw[5:9] == keyring.active.to_bytes(4, "big") and b"13812345678" not in raw
        for att_id, content in ((old_id, pdf), (new["id"], PNG)):
            got = town.client.get(f"{url}/{att_id}", headers=town.h("ent_a"))
            assert got.status_code == 200 and got.content == content
        with town.factory.begin() as s:  # nothing left under an older key
            assert service.reseal_attachments(s, settings=town.settings) == 0

    def test_files_no_attachment_names_are_removed_after_an_hour(self, town):
        o = _raise(town)
        url = f"/api/v1/objections/{o['id']}/attachments"
        kept = town.client.post(
            url, files={"file": ("a.png", PNG, "image/png")}, headers=town.h("ent_a")
        ).json()
        folder = town.settings.data_dir / "objections"
        orphan = sealed_files.save(folder, magic=b"PHOB1", aad=b"x", data=PNG)
        fresh = sealed_files.save(folder, magic=b"PHOB1", aad=b"y", data=PNG)
        hour_ago = (datetime.now(UTC) - timedelta(hours=2)).timestamp()
        for p in folder.iterdir():
            if p.name != fresh:
                os.utime(p, (hour_ago, hour_ago))
        with town.factory.begin() as s:
            assert service.remove_orphan_files(s, settings=town.settings) == 1
        assert not (folder / orphan).exists() and (folder / fresh).exists()
        got = town.client.get(f"{url}/{kept['id']}", headers=town.h("ent_a"))
        assert got.status_code == 200 and got.content == PNG

    def test_the_regulator_overview_lists_open_objections(self, town):
        _raise(town)
        r = town.client.get("/api/v1/objections/overview", headers=town.h("regulator"))
        assert r.status_code == 200 and r.json()["open"] == 1
        assert (
            town.client.get("/api/v1/objections/overview", headers=town.h("ent_a")).status_code
            == 403
        )

    def test_the_enterprise_withdraws_and_the_flag_goes(self, town):
        _grant(town)
        o = _raise(town)
        r = town.client.post(f"/api/v1/objections/{o['id']}/withdraw", headers=town.h("ent_a"))
        assert r.status_code == 200 and r.json()["status"] == "withdrawn"
        assert _value(_profile(town), "OPR_TAX_TOTAL_YOY")["under_objection"] is False
        again = town.client.post(f"/api/v1/objections/{o['id']}/withdraw", headers=town.h("ent_a"))
        assert again.status_code == 409
