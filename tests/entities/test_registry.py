from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from puhui.core.pagination import PageParams
from puhui.core.policy import Role
from puhui.entities import search, service
from tests import factories as account_factories
from tests.entities.factories import record

NAMES = [
    "宁波华光电子有限公司",
    "宁波华光电子有限责任公司分公司",
    "鄞州区张三五金店",
    "慈溪市海天模具股份有限公司",
    "ＸＹＺ科技（宁波）有限公司",
    "余姚市阳明农业专业合作社",
]


def _register(session, names=NAMES):
    recs = [record(n) for n in names]
    service.upsert(session, recs, batch_id=7)
    return recs


def _search(session, q, per_page=20):
    return service.search_entities(session, q=q, params=PageParams(per_page=per_page))


class TestUpsert:
    def test_insert_then_update_by_uscc(self, session):
        (rec,) = _register(session, ["宁波甲乙贸易有限公司"])
        assert service.count(session) >= 1
        service.upsert(
            session,
            [rec.model_copy(update={"name": "宁波甲乙国际贸易有限公司", "status": "revoked"})],
        )
        entity = service.get_public(session, code=rec.uscc)
        assert entity.name == "宁波甲乙国际贸易有限公司" and entity.status == "revoked"
        assert service.ids_for(session, [rec.uscc, "91350100M000100Y43"]) == {rec.uscc: entity.id}

    def test_official_codes_with_a_wrong_check_character_are_kept_and_flagged(self, session):
        good = service.make("91330212MA2H3K4L5")
        wrong = good[:17] + ("0" if good[17] != "0" else "1")
        assert service.official_code(wrong) == (wrong, False)
        assert service.official_code(good.lower()) == (good, True)
        rec = record("宁波错码有限公司").model_copy(update={"uscc": wrong, "uscc_check_ok": False})
        service.upsert(session, [rec])
        assert service.get_public(session, code=wrong).uscc_check_ok is False


class TestLegalRepresentatives:
    """Name and ID number encrypted at rest, the ID number's blind index for lookups; the
    bulk load encrypts them in worker processes with the same result."""

    def _frame(self, n: int) -> tuple[pl.DataFrame, list[tuple[str, str]]]:
        reps = [(f"法人{i}", f"33020319900101{i:03d}X") for i in range(n)]
        recs = [
            record(f"代表人测试{i}有限公司", legal_rep_name=name, legal_rep_id=rep_id)
            for i, (name, rep_id) in enumerate(reps)
        ]
        frame = pl.DataFrame([r.model_dump() for r in recs]).with_columns(
            pl.col("registered_capital").cast(pl.Float64)
        )
        return frame, reps

    def test_worker_processes_only_for_big_loads_on_four_cpus_or_more(self):
        assert service.protect_workers(1_000_000, cpus=2) == 1
        assert service.protect_workers(10_000, cpus=8) == 1
        assert service.protect_workers(1_000_000, cpus=4) == 3
        assert service.protect_workers(1_000_000, cpus=16) == 4

    @pytest.mark.parametrize("workers", [1, 2])
    def test_bulk_load_encrypts_and_indexes(self, session, workers):
        from sqlalchemy import select, text

        from puhui.core.security import fields
        from puhui.entities.models import LEGAL_REP_ID_PURPOSE, Entity

        frame, reps = self._frame(12)
        assert service.upsert_frame(session, frame, batch_id=None, workers=workers) == 12
        codes = frame.get_column("uscc").to_list()
        raw = session.execute(
            text("SELECT uscc, legal_rep_name, legal_rep_id, legal_rep_id_bidx FROM entities")
        ).all()
        stored = {r.uscc: r for r in raw if r.uscc in codes}
        for code, (name, rep_id) in zip(codes, reps, strict=True):
            row = stored[code]
            assert row.legal_rep_name.startswith("sm4:") and name not in row.legal_rep_name
            assert row.legal_rep_id.startswith("sm4:") and rep_id not in row.legal_rep_id
            assert row.legal_rep_id_bidx == fields.blind_index(LEGAL_REP_ID_PURPOSE, rep_id)
        session.expire_all()
        bidx = fields.blind_index(LEGAL_REP_ID_PURPOSE, reps[3][1])
        found = session.scalars(select(Entity).where(Entity.legal_rep_id_bidx == bidx)).all()
        assert [(e.uscc, e.legal_rep_name, e.legal_rep_id) for e in found] == [(codes[3], *reps[3])]


class TestSearch:
    def test_by_name_ignores_legal_forms_and_full_width(self, session):
        _register(session)
        names = [e.name for e in _search(session, "华光电子有限责任公司").items]
        assert set(names) == {"宁波华光电子有限公司", "宁波华光电子有限责任公司分公司"}
        assert [e.name for e in _search(session, "xyz科技").items] == ["ＸＹＺ科技（宁波）有限公司"]
        assert [e.name for e in _search(session, "海天模具 股份").items] == []
        assert [e.name for e in _search(session, "海天 模具").items] == [
            "慈溪市海天模具股份有限公司"
        ]

    def test_exact_and_prefix_matches_come_first(self, session):
        _register(
            session, ["宁波光华有限公司", "华光有限公司", "宁波华光有限公司", "华光电器有限公司"]
        )
        names = [e.name for e in _search(session, "华光").items]
        assert names[:2] == ["华光有限公司", "华光电器有限公司"]

    def test_by_code_exact_partial_and_lower_case(self, session):
        recs = _register(session)
        hit = _search(session, " " + recs[2].uscc.lower() + " ")
        assert hit.total == 1 and hit.items[0].uscc == recs[2].uscc
        part = _search(session, recs[3].uscc[8:16])
        assert recs[3].uscc in [e.uscc for e in part.items]

    def test_the_index_follows_registry_writes(self, session):
        assert _search(session, "新来的企业").total == 0
        _register(session, ["宁波新来的企业有限公司"])
        assert _search(session, "新来的企业").total == 1

    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(
            st.text(
                alphabet=st.sampled_from(
                    list("宁波华光电子科技有限责任股份分公司")
                    + list("（）()·- 　ＡＢＣ１２３abcXYZ789,，.。【】\t")
                ),
                max_size=20,
            ),
            min_size=1,
            max_size=10,
        )
    )
    def test_vectorised_normal_form_equals_the_reference(self, names):
        got = pl.select(search.normalized(pl.Series(names, dtype=pl.String))).to_series().to_list()
        assert got == [search.normalize_name(n) for n in names]


class TestApi:
    def test_search_and_public_facts(self, client, session):
        recs = _register(session)
        h = account_factories.token(
            client, account_factories.user(session, Role.CUSTOMER_MANAGER).username
        )
        r = client.get("/api/v1/entities", params={"q": "五金店"}, headers=h)
        assert r.status_code == 200 and r.json()["total"] == 1
        item = r.json()["items"][0]
        assert (
            item["name"] == "鄞州区张三五金店"
            and "legal_rep_id" not in item
            and "legal_rep_name" not in item
        )
        one = client.get(f"/api/v1/entities/{recs[0].uscc}", headers=h).json()
        assert one["uscc"] == recs[0].uscc and "330203199001011234" not in str(one)

    def test_malformed_code_is_a_422_with_the_reason_and_unknown_a_404(self, client, session):
        h = account_factories.token(
            client, account_factories.user(session, Role.RISK_MANAGER).username
        )
        r = client.get("/api/v1/entities/91350100M000100Y44", headers=h)
        assert r.status_code == 422 and "校验位" in r.json()["error"]["message"]
        r = client.get(
            "/api/v1/entities/12345",
            headers=h,
            params={},
        )
        assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "uscc"
        assert client.get("/api/v1/entities/91350100M000100Y43", headers=h).status_code == 404

    def test_search_page_with_htmx(self, client, session):
        _register(session)
        account_factories.web_login(client, account_factories.user(session, Role.OPERATOR).username)
        r = client.get("/entities", params={"q": "合作社"})
        assert r.status_code == 200 and "余姚市阳明农业专业合作社" in r.text and "<html" in r.text
        r = client.get("/entities", params={"q": "合作社"}, headers={"HX-Request": "true"})
        assert "余姚市" in r.text and "<html" not in r.text
