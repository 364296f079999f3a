"""Every domain's tables, imported so that ``Base.metadata`` is complete."""

from puhui.accounts.models import ApiKey, AuthSession, Institution, OneTimeCode, User
from puhui.audit.models import AuditEvent
from puhui.catalog.models import CatalogVersion, Indicator
from puhui.consent.models import Consent, QueryRecord
from puhui.core.idempotency import IdempotencyRecord
from puhui.core.jobs import Job
from puhui.core.orm import Base
from puhui.entities.models import Entity, RegistryState
from puhui.ingest.models import Batch, BatchIssue, DataSource
from puhui.notifications.models import Message

__all__ = [
    "ApiKey",
    "AuditEvent",
    "AuthSession",
    "Base",
    "Batch",
    "BatchIssue",
    "CatalogVersion",
    "Consent",
    "DataSource",
    "Entity",
    "IdempotencyRecord",
    "Indicator",
    "Institution",
    "Job",
    "Message",
    "OneTimeCode",
    "QueryRecord",
    "RegistryState",
    "User",
]
