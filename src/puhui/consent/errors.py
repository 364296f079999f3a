from __future__ import annotations

from puhui.core.errors import Conflict, NotFound, PermissionDenied


class ConsentRequired(PermissionDenied):
    """No live authorization lets this institution read this data for this purpose. The
    ``reason`` says which check failed: none, expired, revoked, not_started,
    wrong_purpose, out_of_scope, not_own."""

    default_code = "consent_required"
    default_message = (
        "You have no live authorization from this entity for {purpose} covering {categories} "
        "({reason}). Ask the enterprise for an authorization: POST /api/v1/consents/requests "
        "with its USCC, the purpose and the categories, or use the Authorizations page."
    )


class ConsentNotFound(NotFound):
    default_code = "consent_not_found"
    default_message = "No such authorization."


class ConsentStateConflict(Conflict):
    default_code = "consent_state"
    default_message = "This authorization is {state}; it cannot be {change} now."
