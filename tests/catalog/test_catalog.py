from __future__ import annotations

import dataclasses
import re

import pytest
from sqlalchemy import func, select

from puhui.catalog import file as catalog_file
from puhui.catalog import service
from puhui.catalog.errors import CatalogChangedWithoutVersion, CatalogFileInvalid
from puhui.catalog.models import Indicator
from puhui.core.pagination import PageParams
from puhui.core.policy import Role
from tests import factories

RAW = (catalog_file.DATA_DIR / "indicators.csv").read_bytes()


class TestTheFile:
    def test_exactly_595_indicators_50_key_27_warning_in_7_categories(self):
        rows = catalog_file.parse(RAW)
        assert len(rows) == 595
        assert sum(r.is_key for r in rows) == 50 and sum(r.is_warning for r in rows) == 27
        assert {r.category for r in rows} == set(catalog_file.CATEGORIES)

    @pytest.mark.parametrize(
        ("pattern", "kind"),
        [
            (r"TAX_TOTAL_YOY", "tax paid change"),
            (r"TAX_GRADE_DOWNGRADED", "tax grade downgrade"),
            (r"TAX_ARREARS", "tax arrears"),
            (r"SS_HEADCOUNT_YOY", "headcount change"),
            (r"SS_ARREARS", "social-security arrears"),
            (r"HPF_HEADCOUNT_YOY", "housing fund"),
            (r"POWER_YOY", "electricity"),
            (r"WATER_YOY", "water"),
            (r"UTILITY_ARREARS", "utility arrears"),
            (r"REAL_ESTATE_SEIZED", "seizure"),
            (r"EQUITY_FROZEN", "equity freeze"),
            (r"NEW_CHATTEL_MORTGAGE", "new chattel mortgage"),
            (r"NEG_ENFORCED$", "enforcement"),
            (r"NEG_DISHONEST$", "dishonest debtor"),
            (r"CONSUMPTION_RESTRICTED", "consumption restriction"),
            (r"LAWSUITS_DEFENDANT_NEW", "new lawsuits"),
            (r"BANKRUPTCY", "bankruptcy"),
            (r"ABNORMAL_OPERATION", "abnormal-operation list"),
            (r"SERIOUS_VIOLATION", "serious violation"),
            (r"ADMIN_PENALTIES_NEW", "administrative penalty"),
            (r"ENV_PENALTIES_NEW", "environmental penalty"),
            (r"CUSTOMS_PENALTIES_NEW", "customs penalty"),
            (r"LEGAL_REP_CHANGED", "legal representative"),
            (r"CONTROLLER_CHANGED", "controlling shareholder"),
            (r"DEREGISTERED", "deregistration"),
            (r"RELATED_IN_TROUBLE", "related entity"),
        ],
    )
    def test_warning_set_covers_the_glossary(self, pattern, kind):
        warning = [r.code for r in catalog_file.parse(RAW) if r.is_warning]
        assert any(re.search(pattern, code) for code in warning), kind

    def test_key_set_covers_the_glossary(self):
        key = {r.code for r in catalog_file.parse(RAW) if r.is_key}
        for code in [
            "BAS_AGE_YEARS",
            "BAS_REG_CAPITAL",
            "BAS_PAID_CAPITAL",
            "BAS_ENTITY_TYPE",
            "BAS_INDUSTRY_SECTION",
            "BAS_DISTRICT",
            "OPR_TAX_TOTAL_12M",
            "OPR_TAX_TOTAL_YOY",
            "OPR_TAX_CREDIT_GRADE",
            "OPR_INV_SALES_12M",
            "OPR_SS_HEADCOUNT_M",
            "OPR_HPF_HEADCOUNT_M",
            "OPR_POWER_12M",
            "OPR_WATER_12M",
            "OPR_EXPORT_12M",
            "PRP_PATENTS",
            "PRP_TRADEMARKS",
            "POS_HIGH_TECH",
            "POS_SPECIALISED_SME",
            "POS_TECH_SME",
            "POS_SUBSIDIES_12M",
            "PRP_REAL_ESTATE_VALUE",
            "PRP_MOVABLE_COLLATERAL",
            "FIN_FIRST_TIME_BORROWER",
            "FIN_LENDING_BANKS",
            "NEG_RECORDS_TOTAL",
            "CRE_CREDIT_GRADE",
            "CRE_HEALTH_SCORE",
        ]:
            assert code in key, code

    @pytest.mark.parametrize(
        ("edit", "row", "column"),
        [
            (
                lambda t: t.replace("BAS_ENTITY_TYPE,basic", "BAS_ENTITY_TYPE,basics", 1),
                3,
                "category",
            ),
            (
                lambda t: t.replace(
                    ",grade,enterprise|individual_business|cooperative|other,", ",grade,,", 1
                ),
                3,
                "allowed_values",
            ),
            (lambda t: t.replace("BAS_DISTRICT,", "BAS_NAME,", 1), 4, "code"),
        ],
    )
    def test_bad_rows_are_named_by_row_and_column(self, edit, row, column):
        with pytest.raises(CatalogFileInvalid) as info:
            catalog_file.parse(edit(RAW.decode()).encode())
        assert {"row": row, "column": column} in [
            {"row": d["row"], "column": d["column"]} for d in info.value.details
        ]

    def test_wrong_totals_are_refused(self):
        lines = RAW.decode().splitlines()
        with pytest.raises(CatalogFileInvalid) as info:
            catalog_file.parse("\n".join(lines[:-1]).encode())
        assert "expected 595" in info.value.details[0]["message"]


class TestLoading:
    def test_init_loaded_the_catalog_once(self, session):
        assert session.scalar(select(func.count()).select_from(Indicator)) == 595
        assert service.current_version(session).version == catalog_file.read().version
        again = service.load(session)
        assert not again.changed

    def test_a_changed_file_under_the_same_version_is_refused(self, session):
        current = catalog_file.read()
        changed = dataclasses.replace(current, sha256="0" * 64)
        with pytest.raises(CatalogChangedWithoutVersion):
            service.load(session, changed)

    def test_a_new_version_keeps_ids_retires_removed_codes_and_adds_new_ones(self, session):
        current = catalog_file.read()
        ids = {i.code: i.id for i in session.scalars(select(Indicator))}
        first, *rest = current.rows
        renamed = dataclasses.replace(rest[0], name_zh="改名后的指标")
        added = dataclasses.replace(first, code="BAS_NEW_THING")
        result = service.load(
            session,
            dataclasses.replace(
                current,
                version=current.version + 1,
                sha256="1" * 64,
                rows=(added, renamed, *rest[1:]),
            ),
        )
        assert (result.added, result.updated, result.retired) == (1, 1, 1)
        now = {i.code: i for i in session.scalars(select(Indicator))}
        assert now[first.code].retired and now[first.code].id == ids[first.code]
        assert (
            now[rest[0].code].id == ids[rest[0].code]
            and now[rest[0].code].name_zh == "改名后的指标"
        )
        assert now["BAS_NEW_THING"].id == max(ids.values()) + 1
        page = service.list_indicators(session, params=PageParams(per_page=100), q="BAS_NAME")
        assert all(i.code != first.code for i in page.items)


class TestApi:
    def test_filter_by_category_key_and_warning(self, client, session):
        h = factories.token(client, factories.user(session, Role.CUSTOMER_MANAGER).username)
        key = client.get(
            "/api/v1/catalog/indicators", params={"key": True, "per_page": 100}, headers=h
        ).json()
        assert key["total"] == 50 and all(i["is_key"] for i in key["items"])
        warn = client.get(
            "/api/v1/catalog/indicators", params={"warning": True, "per_page": 100}, headers=h
        ).json()
        assert warn["total"] == 27
        neg = client.get(
            "/api/v1/catalog/indicators",
            params={"category": "negative", "warning": True, "per_page": 100},
            headers=h,
        ).json()
        assert neg["total"] > 0 and {i["category"] for i in neg["items"]} == {"negative"}
        one = client.get("/api/v1/catalog/indicators/opr_tax_credit_grade", headers=h).json()
        assert one["allowed_values"] == ["A", "B", "M", "C", "D"] and one["value_type"] == "grade"
        assert client.get("/api/v1/catalog/indicators/NOPE_NOPE", headers=h).status_code == 404
        assert (
            client.get(
                "/api/v1/catalog/indicators", params={"category": "x"}, headers=h
            ).status_code
            == 422
        )

    def test_catalog_page(self, client, session):
        factories.web_login(client, factories.user(session, Role.ENTERPRISE).username)
        r = client.get("/catalog", params={"set": "warning"})
        assert r.status_code == 200 and "失信被执行人" in r.text and "共 27 条" in r.text
