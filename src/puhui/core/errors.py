"""The platform's one error type.

``PuhuiError(code, message, status, details)`` is raised by services and rendered by
the web layer: as ``{"error": {"code", "message", "details"}}`` under ``/api/`` and as a
page or an HTMX partial elsewhere. ``message`` is an English message id, translated at
render time into the caller's language and formatted with ``params``; ``details`` points
at what was wrong (a field, a row, a column). Domains subclass these next to the service
that raises them.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PuhuiError(Exception):
    default_code: ClassVar[str] = "error"
    default_status: ClassVar[int] = 400
    default_message: ClassVar[str] = "The request could not be completed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        details: list[dict[str, Any]] | dict[str, Any] | None = None,
        **params: Any,
    ) -> None:
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.status = status or self.default_status
        self.details = details
        self.params = params
        super().__init__(self.message.format(**params) if params else self.message)


class BadRequest(PuhuiError):
    default_code = "bad_request"
    default_status = 400


class ValidationFailed(PuhuiError):
    default_code = "validation_failed"
    default_status = 422
    default_message = "Some fields are not valid."


class NotAuthenticated(PuhuiError):
    default_code = "not_authenticated"
    default_status = 401
    default_message = "Please log in."


class PermissionDenied(PuhuiError):
    default_code = "permission_denied"
    default_status = 403
    default_message = "You are not allowed to do this."


class NotFound(PuhuiError):
    default_code = "not_found"
    default_status = 404
    default_message = "Not found."


class Conflict(PuhuiError):
    default_code = "conflict"
    default_status = 409
    default_message = "This conflicts with the current state."


class TooManyRequests(PuhuiError):
    default_code = "too_many_requests"
    default_status = 429
    default_message = "Too many requests; try again later."


def field_error(field: str, message: str, **params: Any) -> ValidationFailed:
    """A 422 that names the one field that is wrong."""
    return ValidationFailed(
        message, details=[{"field": field, "message": message, "params": params}], **params
    )
