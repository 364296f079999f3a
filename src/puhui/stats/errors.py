"""Statistics errors: status-coded, raised by the service."""

from __future__ import annotations

from typing import Any

from puhui.core.errors import Conflict, ValidationFailed


class InvalidStatsInput(ValidationFailed):
    default_code = "invalid_stats_input"
    default_message = "Some fields are not valid."

    @classmethod
    def at(cls, field: str, message: str, **params: Any) -> InvalidStatsInput:
        return cls(
            message, details=[{"field": field, "message": message, "params": params}], **params
        )


class DuplicateLpr(Conflict):
    default_code = "lpr_exists"
    default_message = "A {tenor} LPR effective on {day} is already entered."
