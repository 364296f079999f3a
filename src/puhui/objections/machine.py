"""The objection state machine, pure: which event moves which state where.

submitted --route--> routed --answer--> answered --close--> closed
submitted|routed --withdraw--> withdrawn
Open states are submitted and routed (the item is flagged "under objection"); answered,
closed and withdrawn are not open. Nothing leaves closed or withdrawn.
"""

from __future__ import annotations

SUBMITTED, ROUTED, ANSWERED, CLOSED, WITHDRAWN = (
    "submitted",
    "routed",
    "answered",
    "closed",
    "withdrawn",
)
STATES = (SUBMITTED, ROUTED, ANSWERED, CLOSED, WITHDRAWN)
OPEN = frozenset({SUBMITTED, ROUTED})
FINAL = frozenset({CLOSED, WITHDRAWN})
EVENTS = ("route", "answer", "close", "withdraw")
TRANSITIONS: dict[tuple[str, str], str] = {
    (SUBMITTED, "route"): ROUTED,
    (ROUTED, "route"): ROUTED,  # an operator may send it to another department
    (ROUTED, "answer"): ANSWERED,
    (ANSWERED, "close"): CLOSED,
    (SUBMITTED, "withdraw"): WITHDRAWN,
    (ROUTED, "withdraw"): WITHDRAWN,
}
OUTCOMES = ("corrected", "no_error", "unverifiable")


class IllegalTransition(ValueError):
    def __init__(self, state: str, event: str) -> None:
        super().__init__(f"cannot {event} an objection that is {state}")
        self.state, self.event = state, event


def advance(state: str, event: str) -> str:
    """The state after ``event``; :class:`IllegalTransition` when it is not allowed."""
    nxt = TRANSITIONS.get((state, event))
    if nxt is None:
        raise IllegalTransition(state, event)
    return nxt


def is_open(state: str) -> bool:
    return state in OPEN
