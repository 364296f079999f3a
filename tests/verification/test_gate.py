"""The gate: an enterprise account whose legal representative is not verified cannot
authorize banks (grant or approve), apply for an instant loan or file an objection; the
pages tell it where to go; a development setting turns the requirement off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from puhui.consent import service as consent
from puhui.consent.models import REQUESTED, Consent
from puhui.consent.schemas import ConsentDecision, ConsentGrant, Purpose
from puhui.core.policy import Role
from puhui.entities import service as entities
from puhui.instant import service as instant
from puhui.instant.schemas import DecisionRequest
from puhui.objections import service as objections
from puhui.objections.schemas import ObjectionCreate
from puhui.verification import service
from puhui.verification.errors import VerificationRequired
from tests import factories


def _grant(session, town, bank_id):
    return consent.grant(
        session,
        actor=town.ent_actor,
        data=ConsentGrant(
            institution_id=bank_id,
            purposes=[Purpose.QUERY],
            expires_at=datetime.now(UTC) + timedelta(days=30),
        ),
    )


class TestGate:
    def test_unverified_accounts_cannot_take_the_sensitive_steps(self, session, town):
        bank = factories.institution(session)
        with pytest.raises(VerificationRequired) as err:
            _grant(session, town, bank.id)
        assert err.value.status == 403 and err.value.details[0]["link"] == "/verification"
        (entity_id,) = entities.ids_for(session, [town.uscc]).values()
        asked = Consent(
            entity_id=entity_id,
            institution_id=bank.id,
            purposes=["query"],
            categories=["basic"],
            starts_at=datetime.now(UTC),
            expires_at=datetime.now(UTC) + timedelta(days=3),
            status=REQUESTED,
        )
        session.add(asked)
        session.flush()
        with pytest.raises(VerificationRequired):
            consent.approve(
                session, actor=town.ent_actor, consent_id=asked.id, data=ConsentDecision()
            )
        consent.decline(session, actor=town.ent_actor, consent_id=asked.id, data=ConsentDecision())
        with pytest.raises(VerificationRequired):
            instant.decide(
                session,
                actor=town.ent_actor,
                product_id=1,
                data=DecisionRequest(amount="100000", term_months=12, authorize=True),
            )
        with pytest.raises(VerificationRequired):
            objections.submit(
                session,
                actor=town.ent_actor,
                data=ObjectionCreate(
                    indicator="OPR_TAX_TOTAL_YOY", period=202609, reason="数据有误"
                ),
            )

    def test_verified_accounts_pass(self, session, town):
        bank = factories.institution(session)
        service.attest_in_person(
            session, actor=town.op_actor, user_id=town.ent.id, uscc=town.uscc, note="柜面"
        )
        assert _grant(session, town, bank.id).status == "granted"

    def test_the_verification_is_for_one_entity(self, session, town):
        service.attest_in_person(
            session, actor=town.op_actor, user_id=town.ent.id, uscc=town.uscc, note="柜面"
        )
        other = town.ent_actor.__class__(
            **{**town.ent_actor.__dict__, "entity_uscc": factories.uscc()}
        )
        with pytest.raises(VerificationRequired):
            service.require_verified(session, actor=other)

    def test_other_roles_are_not_gated(self, session, town):
        service.require_verified(session, actor=town.op_actor)  # raises if gated
        assert not service.needs_verification(session, actor=town.op_actor)

    def test_the_requirement_can_be_turned_off_for_development(self, session, town, configured):
        settings = configured(identity_verification_required="false")
        bank = factories.institution(session)
        assert _grant(session, town, bank.id).status == "granted"
        assert not service.needs_verification(session, actor=town.ent_actor)
        assert settings.env != "production"

    def test_production_refuses_to_turn_it_off(self, configured):
        with pytest.raises(ValueError, match="development only"):
            configured(
                env="production",
                identity_verification_required="false",
                master_key="00" * 16,
                argon2_time_cost="2",
                argon2_memory_kib="19456",
            )

    def test_the_factories_make_verified_enterprise_users(self, session):
        user = factories.user(session, Role.ENTERPRISE)
        assert service.is_verified(session, user_id=user.id, uscc=user.entity_uscc)


class TestPages:
    def test_an_unverified_account_is_told_where_to_verify(self, client, session, town):
        factories.web_login(client, town.ent.username)
        home = client.get("/consents")
        assert 'id="identity-banner"' in home.text and 'href="/verification"' in home.text
        bank = factories.institution(session)
        r = client.post(
            "/api/v1/consents",
            json={
                "institution_id": bank.id,
                "purposes": ["query"],
                "categories": ["basic"],
                "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
            },
            headers=factories.token(client, town.ent.username),
        )
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "identity_verification_required"
        assert r.json()["error"]["details"][0]["link"] == "/verification"

    def test_a_verified_account_sees_no_banner(self, client, session):
        user = factories.user(session, Role.ENTERPRISE)
        factories.web_login(client, user.username)
        page = client.get("/consents")
        assert page.status_code == 200 and 'id="identity-banner"' not in page.text
