"""Fixed-window counters in the database: the count and Retry-After of one key, keys kept
apart, subjects stored only as digests, and — with committed transactions racing from many
threads on their own connections — never more successes than the limit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.orm import sessionmaker

from puhui.core import limits
from puhui.core.limits import Limit, RateCounter, RateLimited
from puhui.core.policy import Actor, Role

SECRET = "s" * 40
T0 = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)  # a multiple of every window below


class TestWindow:
    def test_limit_then_retry_after_counts_down_to_the_window_end(self, session):
        limit = Limit("t.window", 3, 60)
        for n in (1, 2, 3):
            assert (
                limits.hit(session, limit, "a", secret=SECRET, now=T0 + timedelta(seconds=n)) == n
            )
        with pytest.raises(RateLimited) as exc:
            limits.hit(session, limit, "a", secret=SECRET, now=T0 + timedelta(seconds=15.3))
        assert exc.value.retry_after == 45  # ceil(60 - 15.3)
        assert exc.value.status == 429 and exc.value.params == {"seconds": 45}
        # the next window starts afresh
        assert limits.hit(session, limit, "a", secret=SECRET, now=T0 + timedelta(seconds=60)) == 1

    def test_subjects_and_limits_are_counted_apart(self, session):
        one, other = Limit("t.one", 1, 60), Limit("t.other", 1, 60)
        limits.hit(session, one, "a", secret=SECRET, now=T0)
        limits.hit(session, one, "b", secret=SECRET, now=T0)
        limits.hit(session, other, "a", secret=SECRET, now=T0)
        with pytest.raises(RateLimited):
            limits.hit(session, one, "a", secret=SECRET, now=T0)

    def test_subjects_are_stored_as_digests(self, session):
        limits.hit(session, Limit("t.digest", 5, 60), "13812345678", secret=SECRET, now=T0)
        keys = session.scalars(select(RateCounter.key)).all()
        assert keys and all("13812345678" not in k for k in keys)

    def test_purge_removes_rows_past_their_windows(self, session):
        limit = Limit("t.purge", 5, 60)
        limits.hit(session, limit, "a", secret=SECRET, now=T0)
        assert limits.purge(session, now=T0 + timedelta(seconds=119)) == 0
        assert limits.purge(session, now=T0 + timedelta(seconds=121)) == 1

    def test_for_actor_counts_user_and_institution(self, session):
        a1 = Actor(user_id=1, username="a1", role=Role.CUSTOMER_MANAGER, institution_id=7)
        a2 = Actor(user_id=2, username="a2", role=Role.CUSTOMER_MANAGER, institution_id=7)
        kw = {"name": "t.actor", "per_user": 2, "per_institution": 3, "seconds": 3600}
        limits.for_actor(session, a1, secret=SECRET, **kw)
        limits.for_actor(session, a1, secret=SECRET, **kw)
        with pytest.raises(RateLimited):  # a1's own budget
            limits.for_actor(session, a1, secret=SECRET, **kw)
        limits.for_actor(session, a2, secret=SECRET, **kw)  # institution: 3 of 3
        with pytest.raises(RateLimited):  # a2's own budget is fine, the institution's not
            limits.for_actor(session, a2, secret=SECRET, **kw)
        other = Actor(user_id=3, username="b", role=Role.RISK_MANAGER, institution_id=8)
        limits.for_actor(session, other, secret=SECRET, **kw)

    @settings(max_examples=50, deadline=None)
    @given(
        count=st.integers(1, 20),
        seconds=st.integers(1, 86_400),
        offset=st.floats(0, 10**6, allow_nan=False),
    )
    def test_retry_after_is_within_the_window(self, count, seconds, offset):
        limit = Limit("t.prop", count, seconds)
        start, left = limits.window_of(limit, T0 + timedelta(seconds=offset))
        assert start % seconds == 0 and 1 <= left <= seconds


class TestConcurrency:
    def test_parallel_hits_never_exceed_the_limit(self, engine):
        """Twelve threads, each on its own connection and committing its own transaction,
        hit one key with a limit of 4: exactly 4 succeed and the stored count is 4."""
        factory = sessionmaker(engine)
        limit = Limit("t.race", 4, 3600)
        key = limits.subject_key(limit, "racer", SECRET)
        barrier = threading.Barrier(12)
        outcomes: list[str] = []
        lock = threading.Lock()

        def racer() -> None:
            barrier.wait()
            try:
                with factory.begin() as s:
                    limits.hit(s, limit, "racer", secret=SECRET)
                result = "ok"
            except RateLimited:
                result = "limited"
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=racer) for _ in range(12)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            assert sorted(outcomes) == ["limited"] * 8 + ["ok"] * 4
            with factory() as s:
                stored = s.scalar(select(func.sum(RateCounter.hits)).where(RateCounter.key == key))
            assert stored == 4
        finally:
            with factory.begin() as s:
                s.execute(delete(RateCounter).where(RateCounter.key == key))
