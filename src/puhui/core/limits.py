"""Abuse limits: fixed-window counters in the platform database, shared by every process.

A :class:`Limit` allows ``count`` hits per ``seconds``-long window for one subject (a
username, a client IP, a mobile number, an institution). :func:`hit` counts one hit with a
single atomic ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` on the (key, window) row and
raises :class:`RateLimited` (HTTP 429 with ``Retry-After``) when the count passes the limit.

Invariants
- The upsert runs in the caller's transaction. On PostgreSQL it takes the row's lock until
  that transaction ends, on SQLite the database's write lock: concurrent hits on one key
  are serialised, so however many processes and threads race, no more than ``count``
  transactions that hit the key can commit in one window. A hit that goes over the limit
  raises, its transaction rolls back, and the stored count stays at the limit.
- Subjects are stored as keyed digests (HMAC-SHA256 with the platform secret), never in
  clear: the table holds no mobile number, username or address.
- Rows outlive their window by one window and are purged by a periodic job.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Integer, String, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from puhui.core.errors import TooManyRequests
from puhui.core.jobs import job_handler, periodic
from puhui.core.orm import Base, UTCDateTime, utcnow
from puhui.core.policy import Actor

KEY_LENGTH = 96


class RateCounter(Base):
    """Hits of one (limit, subject) in one fixed window."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    window_start: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )  # Unix seconds
    hits: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


@dataclass(frozen=True)
class Limit:
    """``count`` hits per ``seconds`` for one subject; ``name`` keys the counters."""

    name: str
    count: int
    seconds: int

    def __post_init__(self) -> None:
        if self.count < 1 or self.seconds < 1:
            raise ValueError(f"limit {self.name}: count and seconds must be positive")


class RateLimited(TooManyRequests):
    default_code = "rate_limited"
    default_message = "Too many requests; try again in {seconds} seconds."

    def __init__(self, *, retry_after: int, message: str | None = None) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(message, seconds=self.retry_after)


def subject_key(limit: Limit, subject: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{limit.name}\x00{subject}".encode(), hashlib.sha256)
    return f"{limit.name[:30]}:{digest.hexdigest()[:64]}"


def window_of(limit: Limit, now: datetime) -> tuple[int, int]:
    """(window start, seconds until the next window) in Unix seconds."""
    ts = now.timestamp()
    start = int(ts // limit.seconds) * limit.seconds
    return start, max(1, math.ceil(start + limit.seconds - ts))


def hit(
    session: Session,
    limit: Limit,
    subject: str,
    *,
    secret: str,
    message: str | None = None,
    now: datetime | None = None,
) -> int:
    """Count one hit of ``subject`` against ``limit``; the hits so far in this window.

    Raises :class:`RateLimited` (``retry_after`` = seconds until the window ends) when this
    hit is over the limit. ``message`` replaces the generic message (a msgid with
    ``{seconds}``)."""
    now = now or utcnow()
    start, left = window_of(limit, now)
    key = subject_key(limit, subject, secret)
    values: dict[str, Any] = {
        "key": key,
        "window_start": start,
        "hits": 1,
        "expires_at": datetime.fromtimestamp(start, now.tzinfo)
        + timedelta(seconds=2 * limit.seconds),
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = (
        insert(RateCounter)
        .values(**values)
        .on_conflict_do_update(
            index_elements=[RateCounter.key, RateCounter.window_start],
            set_={"hits": RateCounter.hits + 1},
        )
        .returning(RateCounter.hits)
    )
    hits = int(session.execute(upsert).scalar_one())
    if hits > limit.count:
        raise RateLimited(retry_after=left, message=message)
    return hits


def peek(session: Session, limit: Limit, subject: str, *, secret: str) -> int:
    """Hits of ``subject`` in the current window, without counting one."""
    start, _ = window_of(limit, utcnow())
    row = session.get(RateCounter, (subject_key(limit, subject, secret), start))
    return row.hits if row else 0


def purge(session: Session, *, now: datetime | None = None) -> int:
    result = session.execute(delete(RateCounter).where(RateCounter.expires_at < (now or utcnow())))
    return int(getattr(result, "rowcount", 0) or 0)


@job_handler("core.purge_rate_counters")
def _purge_job(session: Session, payload: dict[str, Any]) -> None:
    purge(session)


periodic("core.purge_rate_counters", every=timedelta(minutes=30))


def for_actor(
    session: Session,
    actor: Actor,
    *,
    name: str,
    per_user: int,
    per_institution: int,
    seconds: int,
    secret: str,
    message: str | None = None,
) -> None:
    """Count one hit against the caller's own budget (the user, or the API key) and its
    institution's, both per ``seconds``."""
    who = f"key:{actor.api_key_id}" if actor.api_key_id else f"user:{actor.user_id}"
    hit(session, Limit(f"{name}.user", per_user, seconds), who, secret=secret, message=message)
    if actor.institution_id is not None:
        hit(
            session,
            Limit(f"{name}.inst", per_institution, seconds),
            str(actor.institution_id),
            secret=secret,
            message=message,
        )
