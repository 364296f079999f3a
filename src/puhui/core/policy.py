"""Who may do what: roles, institution kinds and the one role → actions table.

Every route declares exactly one action it needs (``core.web.require``) or declares
itself public; the route × role test in ``tests/test_route_policy.py`` walks the route
table and checks both that declaration and this table. Which *object* a caller may
touch (their own institution's, their own entity's) is the service's business: objects
of another institution answer 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    ENTERPRISE = "enterprise"
    CUSTOMER_MANAGER = "customer_manager"
    RISK_MANAGER = "risk_manager"
    INSTITUTION_ADMIN = "institution_admin"
    OPERATOR = "operator"
    DATA_STEWARD = "data_steward"
    REGULATOR = "regulator"
    AUDITOR = "auditor"


class InstitutionKind(StrEnum):
    BANK = "bank"
    INSURER = "insurer"
    GUARANTOR = "guarantor"
    MICROLENDER = "microlender"
    DATA_SOURCE = "data_source"
    PLATFORM = "platform"
    REGULATOR = "regulator"


LENDING_KINDS = frozenset(
    {
        InstitutionKind.BANK,
        InstitutionKind.INSURER,
        InstitutionKind.GUARANTOR,
        InstitutionKind.MICROLENDER,
    }
)

# Which institution kinds a role can belong to (enterprise users belong to an entity, not
# an institution).
ROLE_KINDS: dict[Role, frozenset[InstitutionKind]] = {
    Role.ENTERPRISE: frozenset(),
    Role.CUSTOMER_MANAGER: LENDING_KINDS,
    Role.RISK_MANAGER: LENDING_KINDS,
    Role.INSTITUTION_ADMIN: frozenset(InstitutionKind),
    Role.OPERATOR: frozenset({InstitutionKind.PLATFORM}),
    Role.DATA_STEWARD: frozenset({InstitutionKind.DATA_SOURCE, InstitutionKind.PLATFORM}),
    Role.REGULATOR: frozenset({InstitutionKind.REGULATOR}),
    Role.AUDITOR: frozenset({InstitutionKind.REGULATOR, InstitutionKind.PLATFORM}),
}

# Roles an API key may act as (never an administrator, never a person's own role).
API_KEY_ROLES = frozenset(
    {Role.CUSTOMER_MANAGER, Role.RISK_MANAGER, Role.DATA_STEWARD, Role.REGULATOR, Role.AUDITOR}
)


class Action(StrEnum):
    SELF = "self"  # my own account: profile, password, log-out
    INSTITUTION_READ = "institution.read"
    INSTITUTION_MANAGE = "institution.manage"
    USER_MANAGE = "user.manage"
    APIKEY_MANAGE = "apikey.manage"
    AUDIT_READ = "audit.read"
    AUDIT_EXPORT = "audit.export"  # the whole signed chain, for a regulator's own check
    AUDIT_CHECKPOINT = "audit.checkpoint"  # sign the chain head now
    JOBS_MANAGE = "jobs.manage"
    MESSAGES_READ = "messages.read"
    CATALOG_READ = "catalog.read"
    ENTITY_READ = "entity.read"
    INGEST_READ = "ingest.read"
    INGEST_UPLOAD = "ingest.upload"
    SOURCE_MANAGE = "source.manage"
    CONSENT_GRANT = "consent.grant"  # an enterprise grants, approves, declines, revokes
    CONSENT_REQUEST = "consent.request"  # an institution asks an enterprise
    CONSENT_READ = "consent.read"
    PROFILE_READ = "profile.read"  # an entity's data beyond public facts (consent-scoped)
    QUERY_RECORDS_READ = "query_records.read"
    QUERY_STATS_READ = "query_records.stats"
    PRODUCT_MANAGE = "product.manage"  # an institution publishes and withdraws loan products
    EVENT_MANAGE = "event.manage"  # operators run financing events
    LOAN_CODE_MANAGE = "loan_code.manage"
    DEMAND_CREATE = "demand.create"  # an enterprise asks for financing
    DEMAND_READ = "demand.read"
    DEMAND_CLAIM = "demand.claim"  # a customer manager claims from the pool
    DEMAND_PROGRESS = "demand.progress"  # either side moves a claim along its states
    DEMAND_DECIDE = "demand.decide"  # the enterprise chooses a bank, rates it, withdraws
    CALLBACK_MANAGE = "callback.manage"  # operators' satisfaction calls
    MATCHING_STATS_READ = "matching.stats"  # the bank response league table
    ACQUISITION_FILTER = "acquisition.filter"  # find prospects by key-indicator filters
    MARKETING_MANAGE = "marketing.manage"  # an enterprise opts out of (or back into) marketing
    LEADS_MANAGE = "leads.manage"  # saved filters, their runs, lead files and invitations
    INVITATION_RESPOND = "invitation.respond"  # an enterprise answers a lender's invitation
    INSTANT_POLICY_MANAGE = "instant.policy"  # decision policies of online products
    INSTANT_APPLY = "instant.apply"  # an enterprise applies for an instant loan
    INSTANT_READ = "instant.read"  # instant-loan decisions (own, institution's, all)
    INSTANT_POLICY_READ = "instant.policy.read"  # an institution's decision policies
    PSI_RUN = "psi.run"  # a lender intersects its own list with a filtered set, privately
    PSI_GRANT = "psi.grant"  # operators allow an institution to learn which items matched
    MODEL_READ = "model.read"  # a lender's scoring models, their reports and ranked leads
    MODEL_MANAGE = "model.manage"  # write scorecards, train, submit, score the population
    MODEL_APPROVE = "model.approve"  # the checker: approve, reject or retire a version
    MODEL_SCORE = "model.score"  # score authorized entities with an approved version (API)
    MONITORING_WATCH = "monitoring.watch"  # a risk manager keeps the watchlist
    MONITORING_RULES = "monitoring.rules"  # warning rules, their templates and snoozes
    MONITORING_ALERTS = "monitoring.alerts"  # list, read and handle alerts
    MONITORING_STATS = "monitoring.stats"  # alert statistics of the institution
    MONITORING_DOWNLOAD = "monitoring.download"  # signed, encrypted batch downloads
    MONITORING_REEVALUATE = "monitoring.reevaluate"  # operators: judge everything again
    OBJECTION_RAISE = "objection.raise"  # an enterprise disputes, attaches, withdraws, closes
    OBJECTION_READ = "objection.read"  # the parties: own, department queue, all
    OBJECTION_ROUTE = "objection.route"  # operators send it to the source department
    OBJECTION_ANSWER = "objection.answer"  # the department's steward answers in writing
    OBJECTION_OVERVIEW = "objection.overview"  # every open objection with its age
    IDENTITY_VERIFY = "identity.verify"  # an enterprise proves its legal representative
    IDENTITY_REVIEW = "identity.review"  # operators review ID photos (manual provider)
    STATS_READ = "stats.read"  # platform statistics: operator and regulator pages, API, CSV
    STATS_MANAGE = "stats.manage"  # operators enter the LPR (for the spread), queue a refresh
    QUALITY_SERVICE_READ = "quality.service"  # banks' service quality (admins: own row)
    QUALITY_DATA_READ = "quality.data"  # data sources' freshness, rejections, coverage
    QUALITY_COVERAGE_READ = "quality.coverage"  # inclusive-finance coverage by place


ALL_ROLES = frozenset(Role)

POLICY: dict[Action, frozenset[Role]] = {
    Action.SELF: ALL_ROLES,
    Action.INSTITUTION_READ: frozenset({Role.OPERATOR, Role.REGULATOR}),
    Action.INSTITUTION_MANAGE: frozenset({Role.OPERATOR}),
    Action.USER_MANAGE: frozenset({Role.OPERATOR, Role.INSTITUTION_ADMIN}),
    Action.APIKEY_MANAGE: frozenset({Role.INSTITUTION_ADMIN}),
    Action.AUDIT_READ: frozenset({Role.AUDITOR, Role.REGULATOR}),
    Action.AUDIT_EXPORT: frozenset({Role.REGULATOR, Role.OPERATOR}),
    Action.AUDIT_CHECKPOINT: frozenset({Role.REGULATOR, Role.OPERATOR}),
    Action.JOBS_MANAGE: frozenset({Role.OPERATOR}),
    Action.MESSAGES_READ: frozenset({Role.OPERATOR}),
    Action.CATALOG_READ: ALL_ROLES,
    Action.ENTITY_READ: ALL_ROLES,
    Action.INGEST_READ: frozenset({Role.OPERATOR, Role.DATA_STEWARD, Role.REGULATOR}),
    Action.INGEST_UPLOAD: frozenset({Role.OPERATOR, Role.DATA_STEWARD}),
    Action.SOURCE_MANAGE: frozenset({Role.OPERATOR}),
    Action.CONSENT_GRANT: frozenset({Role.ENTERPRISE}),
    Action.CONSENT_REQUEST: frozenset({Role.CUSTOMER_MANAGER, Role.RISK_MANAGER}),
    Action.CONSENT_READ: frozenset(
        {Role.ENTERPRISE, Role.CUSTOMER_MANAGER, Role.RISK_MANAGER, Role.INSTITUTION_ADMIN}
    ),
    Action.PROFILE_READ: frozenset({Role.ENTERPRISE, Role.CUSTOMER_MANAGER, Role.RISK_MANAGER}),
    Action.QUERY_RECORDS_READ: frozenset(
        {Role.ENTERPRISE, Role.RISK_MANAGER, Role.INSTITUTION_ADMIN, Role.REGULATOR}
    ),
    Action.QUERY_STATS_READ: frozenset({Role.REGULATOR, Role.OPERATOR}),
    Action.PRODUCT_MANAGE: frozenset({Role.INSTITUTION_ADMIN}),
    Action.EVENT_MANAGE: frozenset({Role.OPERATOR}),
    Action.LOAN_CODE_MANAGE: frozenset(
        {Role.CUSTOMER_MANAGER, Role.INSTITUTION_ADMIN, Role.OPERATOR}
    ),
    Action.DEMAND_CREATE: frozenset({Role.ENTERPRISE}),
    Action.DEMAND_READ: frozenset(
        {
            Role.ENTERPRISE,
            Role.CUSTOMER_MANAGER,
            Role.RISK_MANAGER,
            Role.INSTITUTION_ADMIN,
            Role.OPERATOR,
            Role.REGULATOR,
        }
    ),
    Action.DEMAND_CLAIM: frozenset({Role.CUSTOMER_MANAGER}),
    Action.DEMAND_PROGRESS: frozenset({Role.ENTERPRISE, Role.CUSTOMER_MANAGER, Role.RISK_MANAGER}),
    Action.DEMAND_DECIDE: frozenset({Role.ENTERPRISE}),
    Action.CALLBACK_MANAGE: frozenset({Role.OPERATOR}),
    Action.MATCHING_STATS_READ: frozenset({Role.OPERATOR, Role.REGULATOR}),
    Action.ACQUISITION_FILTER: frozenset({Role.CUSTOMER_MANAGER, Role.RISK_MANAGER}),
    Action.MARKETING_MANAGE: frozenset({Role.ENTERPRISE}),
    Action.LEADS_MANAGE: frozenset({Role.CUSTOMER_MANAGER, Role.RISK_MANAGER}),
    Action.INVITATION_RESPOND: frozenset({Role.ENTERPRISE}),
    Action.INSTANT_POLICY_MANAGE: frozenset({Role.INSTITUTION_ADMIN, Role.RISK_MANAGER}),
    Action.INSTANT_APPLY: frozenset({Role.ENTERPRISE}),
    Action.INSTANT_POLICY_READ: frozenset(
        {Role.CUSTOMER_MANAGER, Role.RISK_MANAGER, Role.INSTITUTION_ADMIN}
    ),
    Action.INSTANT_READ: frozenset(
        {
            Role.ENTERPRISE,
            Role.CUSTOMER_MANAGER,
            Role.RISK_MANAGER,
            Role.INSTITUTION_ADMIN,
            Role.REGULATOR,
        }
    ),
    Action.PSI_RUN: frozenset({Role.CUSTOMER_MANAGER, Role.RISK_MANAGER}),
    Action.PSI_GRANT: frozenset({Role.OPERATOR}),
    Action.MODEL_READ: frozenset(
        {Role.CUSTOMER_MANAGER, Role.RISK_MANAGER, Role.INSTITUTION_ADMIN}
    ),
    Action.MODEL_MANAGE: frozenset({Role.RISK_MANAGER}),
    Action.MODEL_APPROVE: frozenset({Role.RISK_MANAGER, Role.INSTITUTION_ADMIN}),
    Action.MODEL_SCORE: frozenset({Role.CUSTOMER_MANAGER, Role.RISK_MANAGER}),
    Action.MONITORING_WATCH: frozenset({Role.RISK_MANAGER}),
    Action.MONITORING_RULES: frozenset({Role.RISK_MANAGER}),
    Action.MONITORING_ALERTS: frozenset({Role.RISK_MANAGER}),
    Action.MONITORING_STATS: frozenset({Role.RISK_MANAGER}),
    Action.MONITORING_DOWNLOAD: frozenset({Role.RISK_MANAGER}),
    Action.MONITORING_REEVALUATE: frozenset({Role.OPERATOR}),
    Action.OBJECTION_RAISE: frozenset({Role.ENTERPRISE}),
    Action.OBJECTION_READ: frozenset(
        {Role.ENTERPRISE, Role.OPERATOR, Role.DATA_STEWARD, Role.REGULATOR}
    ),
    Action.OBJECTION_ROUTE: frozenset({Role.OPERATOR}),
    Action.OBJECTION_ANSWER: frozenset({Role.DATA_STEWARD}),
    Action.OBJECTION_OVERVIEW: frozenset({Role.REGULATOR, Role.OPERATOR}),
    Action.IDENTITY_VERIFY: frozenset({Role.ENTERPRISE}),
    Action.IDENTITY_REVIEW: frozenset({Role.OPERATOR}),
    Action.STATS_READ: frozenset({Role.OPERATOR, Role.REGULATOR}),
    Action.STATS_MANAGE: frozenset({Role.OPERATOR}),
    Action.QUALITY_SERVICE_READ: frozenset({Role.OPERATOR, Role.REGULATOR, Role.INSTITUTION_ADMIN}),
    Action.QUALITY_DATA_READ: frozenset({Role.OPERATOR, Role.REGULATOR, Role.DATA_STEWARD}),
    Action.QUALITY_COVERAGE_READ: frozenset({Role.OPERATOR, Role.REGULATOR}),
}


def allowed(role: Role | str, action: Action) -> bool:
    return Role(role) in POLICY[action]


def role_fits_kind(role: Role, kind: InstitutionKind | None) -> bool:
    if role is Role.ENTERPRISE:
        return kind is None
    return kind is not None and kind in ROLE_KINDS[role]


@dataclass(frozen=True)
class Actor:
    """Who is calling: a logged-in user or an institution's API key."""

    user_id: int | None
    username: str
    role: Role
    institution_id: int | None = None
    institution_kind: InstitutionKind | None = None
    entity_uscc: str | None = None
    api_key_id: int | None = None
    session_id: str | None = None
    ip: str | None = None
    # when this session last passed a second-factor check (revealing personal values)
    second_factor_at: datetime | None = None

    def can(self, action: Action) -> bool:
        return allowed(self.role, action)

    @property
    def is_platform_wide(self) -> bool:
        """Operators, regulators and auditors see across institutions."""
        return self.role in {Role.OPERATOR, Role.REGULATOR, Role.AUDITOR}
