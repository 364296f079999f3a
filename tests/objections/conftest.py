"""The small city of the profile tests, plus the tax department's steward (bound to the
TAX source), a steward of another department and a regulator."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from puhui.core.policy import Role
from puhui.ingest.models import DataSource
from tests import factories
from tests.city import city  # noqa: F401


@pytest.fixture
def town(city):  # noqa: F811
    with city.factory.begin() as s:
        tax_dept = factories.institution(s, factories.KIND_FOR_ROLE[Role.DATA_STEWARD])
        other_dept = factories.institution(s, factories.KIND_FOR_ROLE[Role.DATA_STEWARD])
        s.scalars(
            select(DataSource).where(DataSource.code == "TAX")
        ).one().institution_id = tax_dept.id
        s.scalars(
            select(DataSource).where(DataSource.code == "SAMR")
        ).one().institution_id = other_dept.id
        city.users["steward_tax"] = factories.user(s, Role.DATA_STEWARD, tax_dept)
        city.users["steward_samr"] = factories.user(s, Role.DATA_STEWARD, other_dept)
        s.flush()
    return city
