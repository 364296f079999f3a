"""Instant loans (秒贷): an online product decides at once, by its institution's policy.

Invariants
- Only an active product of the institution, taking pure-credit loans, gets a policy; only
  its institution's admins and risk managers write one. A new version replaces the active
  one in the same transaction (one active policy per product; old decisions keep theirs).
- The enterprise applies with a ``decision`` authorization for the institution (given with
  the application, or already live); the platform reads the entity's key indicators on
  today's snapshot through ``consent.authorize_read`` and records the read as a query
  record of kind ``decision`` — the enterprise sees every decision in its query records.
- Order: the product's own ranges and targets (a 422 naming the field), then the rules (a
  fired ``decline`` rule declines, a fired ``refer`` rule refers), then the score against
  the cut-offs (below ``refer_min`` declines, below ``approve_min`` refers, no score
  refers), then the band of the score gives the limit (never above the product's maximum)
  and the rate. Every outcome carries reason codes; the decision keeps the values read,
  each rule's result and the score, so it can be explained later exactly as it was taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from puhui.accounts import service as accounts
from puhui.acquisition import service as acquisition
from puhui.audit import service as audit
from puhui.consent import service as consent
from puhui.consent.schemas import ConsentGrant, Purpose
from puhui.core.errors import Conflict, NotFound, PermissionDenied, PuhuiError, field_error
from puhui.core.i18n import N_
from puhui.core.orm import utcnow
from puhui.core.pagination import Page, PageParams, paginate
from puhui.core.policy import Actor, InstitutionKind, Role
from puhui.entities import service as entities
from puhui.instant import repository
from puhui.instant.models import DecisionPolicy, InstantDecision
from puhui.instant.schemas import (
    CAPPED,
    NO_SCORE,
    PLATFORM_REASONS,
    SCORE_LOW,
    SCORE_REFER,
    DecisionRead,
    DecisionRequest,
    PolicyCreate,
    PolicyRead,
    RuleHit,
)
from puhui.matching import service as matching
from puhui.matching.schemas import ProductRead, fen_to_yuan, pct_to_bp, yuan_to_fen
from puhui.verification import service as verification

HEALTH_SCORE = "CRE_HEALTH_SCORE"
ENGINE = "instant-decision"  # the name decisions are recorded under in query records
POLICY_ROLES = (Role.INSTITUTION_ADMIN, Role.RISK_MANAGER)
READER_ROLES = (Role.INSTITUTION_ADMIN, Role.RISK_MANAGER, Role.CUSTOMER_MANAGER)


class NoInstantDecision(NotFound):
    default_code = "no_instant_decision"
    default_message = "This product does not decide online."


# --- policies ----------------------------------------------------------------------------------


def _policy_writer(actor: Actor) -> int:
    if actor.role not in POLICY_ROLES or actor.institution_id is None:
        raise PermissionDenied(action="instant.policy")
    return actor.institution_id


def _check_rules(session: Session, data: PolicyCreate) -> None:
    """Every rule must plan as a filter condition; its 422 is moved to ``rules.{i}.when``."""
    for i, rule in enumerate(data.rules):
        try:
            acquisition.entity_facts(session, -1, (), [rule.when])
        except acquisition.InvalidFilter as exc:
            for d in exc.details or []:
                if isinstance(d, dict):
                    d["field"] = str(d.get("field", "")).replace(
                        "conditions.0", f"rules.{i}.when", 1
                    )
            raise


def create_policy(session: Session, *, actor: Actor, data: PolicyCreate) -> DecisionPolicy:
    institution_id = _policy_writer(actor)
    try:
        product = matching.get_product(session, data.product_id)
    except PuhuiError as exc:
        raise field_error("product_id", N_("No product {id}."), id=data.product_id) from exc
    if product.institution_id != institution_id or not product.is_active:
        raise field_error(
            "product_id", N_("Only your institution's active products decide online.")
        )
    if "credit" not in product.guarantee_types:
        raise field_error(
            "product_id", N_("Instant loans are pure-credit: the product must take credit loans.")
        )
    _check_rules(session, data)
    if data.score_source == "model":
        assert data.model_version_id is not None
        _model(session, data.model_version_id, institution_id)
    version = repository.deactivate_policies(session, product.id) + 1
    policy = DecisionPolicy(
        institution_id=institution_id,
        product_id=product.id,
        version=version,
        rules=[r.model_dump(mode="json") for r in data.rules],
        score_source=data.score_source,
        model_version_id=data.model_version_id,
        approve_min=data.approve_min,
        refer_min=data.refer_min,
        bands=[
            {
                "min_score": b.min_score,
                "limit_fen": yuan_to_fen(b.limit),
                "rate_bp": pct_to_bp(b.rate),
            }
            for b in data.bands
        ],
        is_active=True,
        created_by=actor.user_id,
    )
    repository.add(session, policy)
    audit.record(
        session,
        actor=actor,
        action="instant.policy",
        target_type="product",
        target_id=product.id,
        details={"policy": policy.id, "version": version, "rules": len(data.rules)},
    )
    return policy


def _model(session: Session, version_id: int, institution_id: int) -> Any:
    """An approved model version of the institution (its scorecard scores decisions)."""
    from puhui.scoring import service as scoring

    try:
        return scoring.approved_version(
            session, version_id=version_id, institution_id=institution_id
        )
    except PuhuiError as exc:
        raise field_error(
            "model_version_id", N_("Choose an approved model version of your institution.")
        ) from exc


def policies(session: Session, *, actor: Actor) -> list[PolicyRead]:
    if actor.role not in READER_ROLES or actor.institution_id is None:
        raise PermissionDenied(action="instant.policy")
    return policy_reads(session, repository.policies_of(session, actor.institution_id))


def policy_reads(session: Session, rows: Sequence[DecisionPolicy]) -> list[PolicyRead]:
    names = {pid: matching.get_product(session, pid).name for pid in {r.product_id for r in rows}}
    return [
        PolicyRead(
            id=r.id,
            product_id=r.product_id,
            product_name=names[r.product_id],
            version=r.version,
            rules=r.rules,
            score_source=r.score_source,
            model_version_id=r.model_version_id,
            approve_min=r.approve_min,
            refer_min=r.refer_min,
            bands=[
                {
                    "min_score": b["min_score"],
                    "limit": fen_to_yuan(b["limit_fen"]),
                    "rate": Decimal(b["rate_bp"]) / 100,
                }
                for b in r.bands
            ],
            is_active=r.is_active,
            created_at=r.created_at,
        )
        for r in rows
    ]


def active_policy(session: Session, product_id: int) -> DecisionPolicy | None:
    return repository.active_policy(session, product_id)


def instant_products(session: Session) -> list[ProductRead]:
    """Active products that decide online, with their published terms."""
    rows = [matching.get_product(session, i) for i in repository.products_with_policy(session)]
    return matching.product_reads(session, [p for p in rows if p.is_active])


# --- deciding ----------------------------------------------------------------------------------


def _engine(institution_id: int, kind: str) -> Actor:
    """The institution's decision engine, as query records and consent checks see it."""
    return Actor(
        user_id=None,
        username=ENGINE,
        role=Role.RISK_MANAGER,
        institution_id=institution_id,
        institution_kind=InstitutionKind(kind),
    )


def decide(
    session: Session,
    *,
    actor: Actor,
    product_id: int,
    data: DecisionRequest,
    now: datetime | None = None,
) -> InstantDecision:
    if actor.role is not Role.ENTERPRISE or not actor.entity_uscc:
        raise PermissionDenied(action="instant.apply")
    verification.require_verified(session, actor=actor)
    now = now or utcnow()
    policy = repository.active_policy(session, product_id)
    if policy is None:
        raise NoInstantDecision()
    product = matching.get_product(session, product_id)
    if not product.is_active:
        raise Conflict(N_("This product has been withdrawn."), code="product_withdrawn")
    if not data.authorize:
        raise field_error(
            "authorize", N_("Give the decision authorization to have your application decided.")
        )
    entity = entities.get_public(session, code=actor.entity_uscc)
    amount_fen = yuan_to_fen(data.amount)
    matching.check_product_fit(product, entity, amount_fen, data.term_months, "credit")
    institution = accounts.get_institution(
        session, actor=None, institution_id=policy.institution_id
    )
    engine = _engine(institution.id, institution.kind)
    _authorization(session, actor, engine, entity, institution.id, data, product.name, now)
    scope = consent.authorize_read(
        session, engine, entity_id=entity.id, uscc=entity.uscc, purpose=Purpose.DECISION, now=now
    )
    decision = _evaluate(session, policy, product, entity.id, amount_fen)
    decision.user_id = actor.user_id
    decision.consent_id = scope.consent_id
    decision.term_months = data.term_months
    decision.created_at = now
    repository.add(session, decision)
    consent.record_query(
        session,
        engine,
        scope,
        kind="decision",
        details={
            "decision": decision.id,
            "product_id": product.id,
            "outcome": decision.outcome,
            "reasons": decision.reasons,
        },
    )
    return decision


def _authorization(
    session: Session,
    actor: Actor,
    engine: Actor,
    entity: Any,
    institution_id: int,
    data: DecisionRequest,
    product_name: str,
    now: datetime,
) -> None:
    """Grant the ``decision`` authorization the application carries, unless a live one
    covers every category already."""
    try:
        consent.authorize_read(
            session,
            engine,
            entity_id=entity.id,
            uscc=entity.uscc,
            purpose=Purpose.DECISION,
            categories=None,
            now=now,
        )
        return
    except PuhuiError:
        pass
    consent.grant(
        session,
        actor=actor,
        data=ConsentGrant(
            institution_id=institution_id,
            purposes=[Purpose.DECISION],
            starts_at=now,
            expires_at=now + timedelta(days=data.authorization_days),
            note=f"秒贷 {product_name}"[:300],
        ),
    )


def _evaluate(
    session: Session, policy: DecisionPolicy, product: Any, entity_id: int, amount_fen: int
) -> InstantDecision:
    scorecard = None
    if policy.score_source == "model":
        assert policy.model_version_id is not None
        scorecard = _scorecard(session, policy)
        codes = list(scorecard.features)
    else:
        codes = [HEALTH_SCORE]
    conditions = [_node(rule["when"]) for rule in policy.rules]
    facts = acquisition.entity_facts(session, entity_id, codes, conditions)
    hits = [
        {"reason": r["reason"], "label": r["label"], "action": r["action"], "fired": fired}
        for r, fired in zip(policy.rules, facts.holds, strict=True)
    ]
    fired = [h for h in hits if h["fired"]]
    score, score_reasons = _score(scorecard, facts.values)
    outcome, reasons = _outcome(policy, fired, score, score_reasons)
    limit_fen = rate_bp = None
    if outcome == "approve":
        assert score is not None
        band = next(b for b in policy.bands if score >= b["min_score"])
        limit_fen = min(band["limit_fen"], product.amount_max_fen, amount_fen)
        rate_bp = band["rate_bp"]
        if limit_fen < amount_fen:
            reasons.append(CAPPED)
    return InstantDecision(
        policy_id=policy.id,
        product_id=product.id,
        institution_id=policy.institution_id,
        entity_id=entity_id,
        requested_fen=amount_fen,
        outcome=outcome,
        limit_fen=limit_fen,
        rate_bp=rate_bp,
        score=score,
        reasons=reasons,
        facts=facts.values,
        rule_hits=hits,
        snapshot_version=facts.snapshot_version,
    )


def _node(data: dict[str, Any]) -> Any:
    from puhui.acquisition.schemas import FilterRequest

    return FilterRequest.model_validate({"conditions": [data]}).conditions[0]


def _scorecard(session: Session, policy: DecisionPolicy) -> Any:
    from puhui.scoring.scorecard import Scorecard

    version = _model(session, policy.model_version_id or 0, policy.institution_id)
    return Scorecard.from_json(version.definition)


def _score(scorecard: Any, values: dict[str, Any]) -> tuple[float | None, list[str]]:
    if scorecard is None:
        raw = values.get(HEALTH_SCORE)
        return (None if raw is None else float(raw)), []
    if all(values.get(code) is None for code in scorecard.features):
        return None, []
    score, reasons = scorecard.score(values)
    return float(score), list(reasons)


def _outcome(
    policy: DecisionPolicy,
    fired: list[dict[str, Any]],
    score: float | None,
    score_reasons: list[str],
) -> tuple[str, list[str]]:
    declines = [h["reason"] for h in fired if h["action"] == "decline"]
    if declines:
        return "decline", declines
    refers = [h["reason"] for h in fired if h["action"] == "refer"]
    if score is None:
        return "refer", [*refers, NO_SCORE]
    if score < policy.refer_min:
        return "decline", [SCORE_LOW, *score_reasons[:3]]
    if score < policy.approve_min:
        return "refer", [*refers, SCORE_REFER, *score_reasons[:3]]
    if refers:
        return "refer", refers
    return "approve", []


# --- reading decisions -----------------------------------------------------------------------


def get_decision(session: Session, *, actor: Actor, decision_id: int) -> InstantDecision:
    """A decision as its enterprise, its institution's staff or the regulator see it."""
    decision = repository.decision(session, decision_id)
    if decision is not None:
        if actor.role is Role.ENTERPRISE and actor.entity_uscc:
            own = entities.ids_for(session, [actor.entity_uscc]).get(actor.entity_uscc)
            if own == decision.entity_id:
                return decision
        elif (
            actor.role in READER_ROLES and actor.institution_id == decision.institution_id
        ) or actor.role is Role.REGULATOR:
            return decision
    raise NotFound(N_("No decision {id}."), id=decision_id)


def list_decisions(
    session: Session, *, actor: Actor, params: PageParams, outcome: str | None = None
) -> Page[DecisionRead]:
    if actor.role is Role.ENTERPRISE and actor.entity_uscc:
        own = entities.ids_for(session, [actor.entity_uscc]).get(actor.entity_uscc)
        stmt = repository.decisions_query(entity_id=own or -1, outcome=outcome)
    elif actor.role in READER_ROLES and actor.institution_id is not None:
        stmt = repository.decisions_query(institution_id=actor.institution_id, outcome=outcome)
    elif actor.role is Role.REGULATOR:
        stmt = repository.decisions_query(outcome=outcome)
    else:
        raise PermissionDenied(action="instant.read")
    page = paginate(session, stmt, params)
    return Page(
        items=decision_reads(session, page.items),
        total=page.total,
        page=page.page,
        per_page=page.per_page,
    )


def decision_reads(session: Session, rows: Sequence[InstantDecision]) -> list[DecisionRead]:
    if not rows:
        return []
    products = {p: matching.get_product(session, p).name for p in {r.product_id for r in rows}}
    institutions = accounts.institution_names(session, {r.institution_id for r in rows})
    found = {e.id: e for e in entities.many(session, sorted({r.entity_id for r in rows}))}
    policies = repository.policies_by_id(session, {r.policy_id for r in rows})
    out = []
    for r in rows:
        entity = found.get(r.entity_id)
        policy = policies[r.policy_id]
        labels = {h["reason"]: h["label"] for h in r.rule_hits}
        out.append(
            DecisionRead(
                id=r.id,
                product_id=r.product_id,
                product_name=products[r.product_id],
                institution_id=r.institution_id,
                institution_name=institutions.get(r.institution_id, ""),
                uscc=entity.uscc if entity else "",
                entity_name=entity.name if entity else "",
                requested=fen_to_yuan(r.requested_fen) or Decimal(0),
                term_months=r.term_months,
                outcome=r.outcome,
                limit=fen_to_yuan(r.limit_fen),
                rate=None if r.rate_bp is None else Decimal(r.rate_bp) / 100,
                score=r.score,
                score_source=policy.score_source,
                reasons=r.reasons,
                reason_texts=[labels.get(c) or PLATFORM_REASONS.get(c, c) for c in r.reasons],
                facts=r.facts,
                rules=[RuleHit.model_validate(h) for h in r.rule_hits],
                policy_version=policy.version,
                created_at=r.created_at,
            )
        )
    return out


def explain(session: Session, decision: InstantDecision) -> DecisionRead:
    return decision_reads(session, [decision])[0]
