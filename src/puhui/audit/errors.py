from __future__ import annotations

from puhui.core.errors import Conflict


class AuditChainEmpty(Conflict):
    default_code = "audit_chain_empty"
    default_message = "The audit chain has no records to sign yet."
