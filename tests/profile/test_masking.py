"""No response for a viewer who may not see them holds an unmasked ID number or mobile."""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puhui.consent.service import ReadScope
from puhui.profile import service

CATEGORIES = frozenset(
    ["basic", "property", "financial", "operating", "positive", "negative", "credit_evaluation"]
)
id_numbers = st.from_regex(r"\A[1-6]\d{5}(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d)\d{3}[\dX]\Z")
mobiles = st.from_regex(r"\A1[3-9]\d{9}\Z")


class _Entity:
    def __init__(self, rep_id: str) -> None:
        self.id, self.uscc, self.name, self.kind = 1, "91330203MA2XXXXX0A", "甲公司", "enterprise"
        self.district, self.industry_section, self.industry_division = "330203", "C", "34"
        self.registered_capital = self.established = None
        self.status, self.legal_rep_name, self.legal_rep_id = "active", "张三丰", rep_id
        self.uscc_check_ok = True


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rep_id=id_numbers, mobile=mobiles, other_id=id_numbers)
def test_a_bank_never_receives_an_unmasked_id_number_or_mobile(
    session, settings_, rep_id, mobile, other_id
):
    metas = service._metas(session)
    codes = {m.code: m.id for m in metas.values()}
    history = pl.DataFrame(
        {
            "entity_id": [1, 1, 1],
            "indicator_id": [
                codes["BAS_LEGAL_REP_ID"],
                codes["BAS_CONTACT_MOBILE"],
                codes["BAS_LEGAL_REP_NAME"],
            ],
            "period": [202609, 202609, 202609],
            "value_num": [None, None, None],
            "value_text": [other_id, mobile, "李四"],
            "batch_id": [1, 1, 1],
            "source_id": [1, 1, 1],
        },
        schema_overrides={"indicator_id": pl.Int16, "period": pl.Int32, "value_num": pl.Float64},
    )
    for own, revealed in ((False, False), (True, False), (False, True)):
        scope = ReadScope(1, "91330203MA2XXXXX0A", "query", CATEGORIES, 7, own=own)
        body = service._assemble(
            session,
            _Entity(rep_id),
            scope,
            metas,
            history,
            revealed=revealed,
            locale="zh_CN",
            settings=settings_,
        ).model_dump_json()
        visible = own or revealed
        for secret in (rep_id, other_id, mobile):
            assert (secret in body) == visible
