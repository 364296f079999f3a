"""Every domain's tables, imported so that ``Base.metadata`` is complete."""

from puhui.accounts.models import ApiKey, AuthSession, Institution, OneTimeCode, User
from puhui.acquisition.models import MarketingOptOut, MarketingState
from puhui.audit.models import AuditEvent
from puhui.catalog.models import CatalogVersion, Indicator
from puhui.consent.models import Consent, QueryRecord
from puhui.core.idempotency import IdempotencyRecord
from puhui.core.jobs import Job
from puhui.core.limits import RateCounter
from puhui.core.orm import Base
from puhui.entities.models import Entity, RegistryState
from puhui.ingest.models import Batch, BatchIssue, DataSource
from puhui.matching.models import (
    Callback,
    Claim,
    ClaimEvent,
    Demand,
    EventInstitution,
    FinancingEvent,
    LoanCode,
    Product,
)
from puhui.monitoring.models import Alert, Rule, RuleSet, Snooze, Watch, WatchAssignee
from puhui.notifications.models import DeliveryReceipt, Message, MessagePart
from puhui.psi.models import PsiGrant, PsiSession
from puhui.scoring.models import BatchRun, ModelVersion, ScoringModel, TrainingRun

__all__ = [
    "Alert",
    "ApiKey",
    "AuditEvent",
    "AuthSession",
    "Base",
    "Batch",
    "BatchIssue",
    "BatchRun",
    "Callback",
    "CatalogVersion",
    "Claim",
    "ClaimEvent",
    "Consent",
    "DataSource",
    "DeliveryReceipt",
    "Demand",
    "Entity",
    "EventInstitution",
    "FinancingEvent",
    "IdempotencyRecord",
    "Indicator",
    "Institution",
    "Job",
    "LoanCode",
    "MarketingOptOut",
    "MarketingState",
    "Message",
    "MessagePart",
    "ModelVersion",
    "OneTimeCode",
    "Product",
    "PsiGrant",
    "PsiSession",
    "QueryRecord",
    "RateCounter",
    "RegistryState",
    "Rule",
    "RuleSet",
    "ScoringModel",
    "Snooze",
    "TrainingRun",
    "User",
    "Watch",
    "WatchAssignee",
]
