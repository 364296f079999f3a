"""The alert lifecycle as a pure state machine: new → acknowledged → handled → closed.

``handle`` needs an outcome (confirmed risk or false positive) and a note; ``close`` only
follows ``handle``. Nothing goes back and a closed alert never moves again, so the
history of an alert is always a prefix of that one path.
"""

from __future__ import annotations

from dataclasses import dataclass

from puhui.core.i18n import N_
from puhui.monitoring.schemas import OUTCOMES, STATES

NEW, ACKNOWLEDGED, HANDLED, CLOSED = STATES
CONFIRMED, FALSE_POSITIVE = OUTCOMES
NEXT = {
    "acknowledge": (NEW, ACKNOWLEDGED),
    "handle": (ACKNOWLEDGED, HANDLED),
    "close": (HANDLED, CLOSED),
}
MAX_NOTE = 2000

LABELS = {
    NEW: N_("new"),
    ACKNOWLEDGED: N_("acknowledged"),
    HANDLED: N_("handled"),
    CLOSED: N_("closed"),
    CONFIRMED: N_("confirmed risk"),
    FALSE_POSITIVE: N_("false positive"),
    "acknowledge": N_("acknowledge"),
    "handle": N_("handle"),
    "close": N_("close"),
}


class TransitionRefused(Exception):
    """Why a step is not allowed: ``field`` and an English message id with params."""

    def __init__(self, field: str, message: str, **params: object) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.params = params


@dataclass(frozen=True)
class Step:
    status: str
    outcome: str | None
    note: str


def step(status: str, action: str, *, outcome: str | None = None, note: str = "") -> Step:
    """The alert's state after ``action`` from ``status``, or :class:`TransitionRefused`."""
    if action not in NEXT:
        raise TransitionRefused("action", N_("Unknown action {action}."), action=action)
    before, after = NEXT[action]
    if status != before:
        raise TransitionRefused(
            "action",
            N_("An alert that is {state} cannot be {action}d."),
            state=status,
            action=action,
        )
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise TransitionRefused("note", N_("The note is longer than {n} characters."), n=MAX_NOTE)
    if action == "handle":
        if outcome not in OUTCOMES:
            raise TransitionRefused(
                "outcome", N_("Choose the outcome: confirmed risk or false positive.")
            )
        if not note:
            raise TransitionRefused("note", N_("Say how the alert was handled."))
        return Step(after, outcome, note)
    if outcome is not None:
        raise TransitionRefused("outcome", N_("Only handling an alert records an outcome."))
    return Step(after, None, note)


def allowed_actions(status: str) -> list[str]:
    return [a for a, (before, _after) in NEXT.items() if before == status]
