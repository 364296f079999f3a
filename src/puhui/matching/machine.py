"""The claim state machine and the working-day clock, as pure functions.

A claim moves forward one step at a time, only by the bank that holds it::

    claimed → contacted → under_review → approved → granted

and ends early when the bank declines (after looking) or releases it (lets it go, no
mark against the enterprise), when the enterprise cancels it, or when the platform
expires it for missing a deadline (a mark against the bank). ``granted``, ``declined``,
``released``, ``cancelled`` and ``expired`` are final.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from puhui.matching.schemas import ClaimStatus

SHANGHAI = ZoneInfo("Asia/Shanghai")

CLAIMED = ClaimStatus.CLAIMED
CONTACTED = ClaimStatus.CONTACTED
UNDER_REVIEW = ClaimStatus.UNDER_REVIEW
APPROVED = ClaimStatus.APPROVED
GRANTED = ClaimStatus.GRANTED
DECLINED = ClaimStatus.DECLINED
RELEASED = ClaimStatus.RELEASED
CANCELLED = ClaimStatus.CANCELLED
EXPIRED = ClaimStatus.EXPIRED

ACTIVE = frozenset({CLAIMED, CONTACTED, UNDER_REVIEW, APPROVED})
FINAL = frozenset(ClaimStatus) - ACTIVE
FORWARD = {CLAIMED: CONTACTED, CONTACTED: UNDER_REVIEW, UNDER_REVIEW: APPROVED, APPROVED: GRANTED}
NEEDS_REASON = frozenset({DECLINED, RELEASED, CANCELLED})
NEEDS_TERMS = frozenset({APPROVED, GRANTED})
# Before these states a claim still owes the enterprise an outcome.
AWAITING_OUTCOME = frozenset({CLAIMED, CONTACTED, UNDER_REVIEW})

BANK = "bank"
ENTERPRISE = "enterprise"
PLATFORM = "platform"


def allowed(state: str, to: str, side: str) -> bool:
    """Whether ``side`` may move a claim from ``state`` to ``to``."""
    current, target = ClaimStatus(state), ClaimStatus(to)
    if current not in ACTIVE:
        return False
    if side == BANK:
        return FORWARD.get(current) == target or target in {DECLINED, RELEASED}
    if side == ENTERPRISE:
        return target is CANCELLED
    if side == PLATFORM:
        return target in {EXPIRED, CANCELLED}
    return False


def next_steps(state: str, side: str) -> list[str]:
    """The states ``side`` may move a claim to from ``state``, forward step first."""
    return [s.value for s in _ORDER if allowed(state, s, side)]


_ORDER = (CONTACTED, UNDER_REVIEW, APPROVED, GRANTED, DECLINED, RELEASED, CANCELLED, EXPIRED)


def is_working_day(day: date, holidays: Iterable[date] = ()) -> bool:
    return day.weekday() < 5 and day not in set(holidays)


def add_working_days(start: datetime, n: int, holidays: Iterable[date] = ()) -> datetime:
    """The same Shanghai clock time ``n`` working days after ``start`` (weekends and the
    given holidays skipped). The result is timezone-aware UTC."""
    if n < 0:
        raise ValueError("n must not be negative")
    off = frozenset(holidays)
    local = start.astimezone(SHANGHAI)
    day = local.date()
    counted = 0
    while counted < n:
        day += timedelta(days=1)
        if is_working_day(day, off):
            counted += 1
    moved = datetime.combine(day, local.timetz().replace(tzinfo=None), SHANGHAI)
    return moved.astimezone(start.tzinfo or SHANGHAI)
