"""The model pages without JavaScript: create a model, a scorecard with its errors shown,
maker/checker approval, batch scoring, leads with pagination and downloads, PSI, and a
training upload whose status shows on the model page."""

from __future__ import annotations

import json
import re

from tests import factories
from tests.scoring.test_service import CARD


def _login(world, who: str) -> str:
    world.client.cookies.clear()
    return factories.web_login(world.client, world.users[who].username)


def _post(world, path: str, csrf: str, **data):
    return world.client.post(path, data={"csrf_token": csrf, **data}, follow_redirects=False)


class TestModelPages:
    def test_the_whole_flow(self, world):
        csrf = _login(world, "rm_a")
        assert world.client.get("/models").status_code == 200
        r = _post(world, "/models", csrf, name="经营贷评分卡", description="小微")
        assert r.status_code == 303
        model_path = r.headers["location"]
        page = world.client.get(model_path)
        assert page.status_code == 200 and "经营贷评分卡" in page.text
        # errors are shown, in Chinese by default, with their paths
        r = _post(world, f"{model_path}/versions", csrf, definition="{not json")
        assert r.status_code == 422 and "JSON" in r.text
        broken = json.loads(json.dumps(CARD))
        broken["features"][0]["bins"][1]["lo"] = 20000
        r = _post(world, f"{model_path}/versions", csrf, definition=json.dumps(broken))
        assert r.status_code == 422 and "features.0.bins.1.lo" in r.text
        r = _post(world, f"{model_path}/versions", csrf, definition=json.dumps(CARD))
        assert r.status_code == 303
        version_path = r.headers["location"]
        page = world.client.get(version_path).text
        assert "/submit" in page and "/approve" not in page
        assert _post(world, f"{version_path}/submit", csrf).status_code == 303
        assert "/approve" not in world.client.get(version_path).text  # the maker cannot check
        csrf = _login(world, "admin_a")
        page = world.client.get(version_path).text
        assert f'action="{version_path}/approve"' in page
        assert _post(world, f"{version_path}/approve", csrf, note="同意").status_code == 303
        csrf = _login(world, "rm_a")
        assert _post(world, f"{version_path}/batch", csrf).status_code == 303
        world.drain()
        leads = world.client.get(f"{version_path}/leads")
        assert leads.status_code == 200 and "leads.csv" in leads.text
        assert len(re.findall(r"<code>9", leads.text)) == 20
        second = world.client.get(f"{version_path}/leads?page=2")
        assert second.status_code == 200 and ">21<" in second.text
        assert world.client.get(f"{version_path}/leads.csv").status_code == 200
        assert world.client.get(f"{version_path}/scorecard.sql").text.count("CASE") == 3
        assert "scorecard" in world.client.get(f"{version_path}/scorecard.json").json()
        psi = world.client.get(f"{version_path}/psi")
        assert psi.status_code == 200 and "PSI" in psi.text

    def test_a_training_upload_shows_its_status(self, world):
        csrf = _login(world, "rm_a")
        model_path = _post(world, "/models", csrf, name="训练模型").headers["location"]
        body = "uscc,outcome\n" + "".join(
            f"{u},{'bad' if b else 'good'}\n" for u, b in zip(world.usccs, world.bad, strict=True)
        )
        r = world.client.post(
            f"{model_path}/training",
            data={"csrf_token": csrf, "features": ["OPR_TAX_TOTAL_12M", "NEG_RECORDS_TOTAL"]},
            files={"file": ("s.csv", body.encode(), "text/csv")},
            follow_redirects=False,
        )
        assert r.status_code == 303
        page = world.client.get(model_path).text
        assert 'hx-trigger="every 3s"' in page  # queued: the runs table refreshes itself
        world.drain()
        page = world.client.get(model_path).text
        assert 'hx-trigger="every 3s"' not in page and "/model-versions/" in page
        version = re.search(r'href="(/model-versions/\d+)"', page).group(1)
        report = world.client.get(version).text
        assert "AUC" in report and "roc-data" in report and "WOE" in report

    def test_a_bad_upload_names_its_rows(self, world):
        csrf = _login(world, "rm_a")
        model_path = _post(world, "/models", csrf, name="坏样本").headers["location"]
        r = world.client.post(
            f"{model_path}/training",
            data={"csrf_token": csrf},
            files={"file": ("s.csv", b"uscc,outcome\nabc,bad\n", "text/csv")},
            follow_redirects=False,
        )
        assert r.status_code == 422 and "rows.2.uscc" in r.text

    def test_customer_managers_read_but_do_not_write(self, world):
        _login(world, "cm_a")
        page = world.client.get("/models").text
        assert 'action="/models"' not in page

    def test_admins_of_other_institutions_see_a_notice(self, world, session):
        from puhui.core.policy import InstitutionKind, Role

        source = factories.institution(session, InstitutionKind.DATA_SOURCE)
        admin = factories.user(session, Role.INSTITUTION_ADMIN, source)
        session.commit()
        world.client.cookies.clear()
        factories.web_login(world.client, admin.username)
        r = world.client.get("/models")
        assert r.status_code == 200 and 'action="/models"' not in r.text
