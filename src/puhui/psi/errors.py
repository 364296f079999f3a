from __future__ import annotations

from typing import Any

from puhui.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


class PsiSessionNotFound(NotFound):
    default_code = "psi_session_not_found"
    default_message = "No such PSI session."


class PsiSessionClosed(Conflict):
    default_code = "psi_session_closed"
    default_message = "This PSI session was already used or has expired; open a new one."


class WhichNotAllowed(PermissionDenied):
    default_code = "psi_which_not_allowed"
    default_message = (
        "Your institution may only learn how many of its items match (count mode); "
        "learning which ones needs the platform's permission."
    )


class PsiInvalid(ValidationFailed):
    default_code = "psi_invalid"

    @classmethod
    def at(cls, field: str, message: str, **params: Any) -> PsiInvalid:
        return cls(
            message, details=[{"field": field, "message": message, "params": params}], **params
        )
