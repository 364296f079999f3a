"""Negative and regulatory records (lawsuits, enforcement, penalties, listings …) as sparse
event histories, and the windows, states and dates the feeds report from them.

A history covers ``H = months + 60`` months ending at ``end_period`` so that 60-month
windows are complete from the first reported month. Records are rare, so they are kept as
arrays of (entity, month, amount, duration) and turned into ``(k, T)`` matrices only for
the ``k`` entities that have any.

Invariant: a distressed firm has no court or dishonest-debtor record before its first
court case (``Distress.court``); its lawsuits, enforcement, seizures, freezes and listings
follow from that month on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from puhui.ingest.generator.model import Model, money

HISTORY = 60


@dataclass
class Records:
    n: int
    H: int
    T: int
    ent: np.ndarray
    h: np.ndarray
    amount: np.ndarray
    dur: np.ndarray
    day: np.ndarray

    def select(self, mask: np.ndarray) -> Records:
        return Records(
            self.n,
            self.H,
            self.T,
            self.ent[mask],
            self.h[mask],
            self.amount[mask],
            self.dur[mask],
            self.day[mask],
        )

    def __add__(self, other: Records) -> Records:
        cat = np.concatenate
        return Records(
            self.n,
            self.H,
            self.T,
            cat([self.ent, other.ent]),
            cat([self.h, other.h]),
            cat([self.amount, other.amount]),
            cat([self.dur, other.dur]),
            cat([self.day, other.day]),
        )

    @cached_property
    def entities(self) -> np.ndarray:
        return np.unique(self.ent)

    def _matrix(self, weights: np.ndarray | None = None) -> np.ndarray:
        row = np.searchsorted(self.entities, self.ent)
        m = np.zeros((len(self.entities), self.H))
        np.add.at(m, (row, self.h), 1.0 if weights is None else weights)
        return m

    def window(self, w: int, weights: np.ndarray | None = None) -> np.ndarray:
        """Records (or their summed ``weights``) in the trailing ``w`` months of each reported
        month, for ``self.entities``."""
        c = np.cumsum(self._matrix(weights), axis=1)
        at = np.arange(self.H - self.T, self.H)
        before = at - w
        prev = np.where(before >= 0, c[:, np.maximum(before, 0)], 0.0)
        return c[:, at] - prev

    def new(self, weights: np.ndarray | None = None) -> np.ndarray:
        return self._matrix(weights)[:, self.H - self.T :]

    def active(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Records open in each reported month (started, not yet ``dur`` months old)."""
        row = np.searchsorted(self.entities, self.ent)
        m = np.zeros((len(self.entities), self.H + 1))
        wt = 1.0 if weights is None else weights
        np.add.at(m, (row, self.h), wt)
        np.add.at(m, (row, np.minimum(self.h + self.dur, self.H)), -wt)
        return np.round(np.cumsum(m, axis=1)[:, self.H - self.T : self.H], 2)

    def dates(self, end: int) -> np.ndarray:
        """Record dates (datetime64[D]); ``end`` is the month number of the last month."""
        g = end - self.H + 1 + self.h
        months = (g - 1970 * 12).astype("datetime64[M]")
        return np.asarray(months.astype("datetime64[D]") + (self.day - 1))

    def last_rows(self, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows for a "latest record date" indicator: one per (entity, month with records)
        inside the reported window, plus the latest earlier month per entity; the value is
        the latest record date of that month. Returns (entity, month number, date)."""
        if not len(self.ent):
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, "datetime64[D]")
        d = self.dates(end)
        order = np.lexsort((d, self.h, self.ent))
        ent, h, d = self.ent[order], self.h[order], d[order]
        last_of_month = np.r_[(ent[1:] != ent[:-1]) | (h[1:] != h[:-1]), True]
        ent, h, d = ent[last_of_month], h[last_of_month], d[last_of_month]
        inside = h >= self.H - self.T
        before = ~inside
        last_before = before & np.r_[(ent[1:] != ent[:-1]) | inside[1:], True]
        keep = inside | last_before
        return ent[keep], end - self.H + 1 + h[keep], d[keep]


class Histories:
    """Every record family of one chunk, drawn once and shared by the feeds that report it."""

    def __init__(self, m: Model) -> None:
        self.m = m
        self.T = m.cal.months
        self.H = self.T + HISTORY
        self.offset = self.H - m.S  # history month of simulated month 0
        start = m.cal.end - self.H + 1
        self.lo = np.clip(m.e.est_g - start, 0, self.H - 1)
        self.hi = np.clip(m.e.exit_g - 1 - start, -1, self.H - 1)
        self.rng = m.rng("histories")

    def _empty(self) -> Records:
        z = np.zeros(0, dtype=np.int64)
        return Records(self.m.n, self.H, self.T, z, z, np.zeros(0), z, z)

    def background(
        self,
        rate_per_year: np.ndarray,
        *,
        amount: np.ndarray | float = 0.0,
        dur: tuple[int, int] = (1, 1),
    ) -> Records:
        """Records arriving at random over each entity's life in the history (never for
        distressed firms' court families: callers pass a zero rate for them)."""
        rng, m = self.rng, self.m
        life = np.maximum(self.hi - self.lo + 1, 0)
        count = rng.poisson(np.asarray(rate_per_year) * life / 12)
        ent = np.repeat(np.arange(m.n), count)
        h = self.lo[ent] + (rng.random(len(ent)) * life[ent]).astype(np.int64)
        amt = np.broadcast_to(np.asarray(amount, dtype=float), (m.n,))[ent]
        amt = money(amt * np.exp(rng.normal(0, 0.6, len(ent))))
        d = rng.integers(dur[0], dur[1] + 1, len(ent))
        return Records(m.n, self.H, self.T, ent, h, amt, d, rng.integers(1, 29, len(ent)))

    def at(
        self,
        ents: np.ndarray,
        sim_month: np.ndarray,
        *,
        amount: np.ndarray | float = 0.0,
        dur: int = 10**4,
    ) -> Records:
        """Records for given entities at given simulated months (dropped past the end)."""
        keep = sim_month < self.m.S
        ents, sim_month = ents[keep], sim_month[keep]
        amt = np.broadcast_to(np.asarray(amount, dtype=float), keep.shape)[keep]
        n = len(ents)
        return Records(
            self.m.n,
            self.H,
            self.T,
            ents.astype(np.int64),
            (sim_month + self.offset).astype(np.int64),
            money(amt),
            np.full(n, dur, dtype=np.int64),
            self.rng.integers(1, 29, n),
        )

    # ---- distressed firms' court path ----------------------------------------------------

    @cached_property
    def _path(self) -> dict[str, np.ndarray]:
        m, rng = self.m, self.rng
        ds = m.distress
        idx = np.flatnonzero(ds.flag)
        k = len(idx)
        court = ds.court[idx]
        enforce = court + rng.integers(1, 4, k)
        return {
            "idx": idx,
            "court": court,
            "enforce_on": rng.random(k) < 0.85,
            "enforce": enforce,
            "seize": (rng.random(k) < 0.6) & m.has_real_estate[idx],
            "seize_at": enforce + rng.integers(0, 3, k),
            "freeze": (rng.random(k) < 0.35) & m.is_e[idx],
            "freeze_at": enforce + rng.integers(0, 3, k),
            "dishonest": rng.random(k) < 0.6,
            "dishonest_at": enforce + rng.integers(2, 6, k),
            "restrict": rng.random(k) < 0.75,
            "restrict_at": enforce + rng.integers(0, 3, k),
            "bankrupt": rng.random(k) < 0.08,
            "bankrupt_at": court + rng.integers(6, 12, k),
            "size": np.exp(11.5 + 0.8 * m.e.z[idx]),
        }

    def _court_rate(self, e_rate: float, i_rate: float) -> np.ndarray:
        m = self.m
        return np.where(m.distress.flag, 0.0, np.where(m.is_e, e_rate, i_rate))

    @cached_property
    def lawsuit(self) -> Records:
        """Lawsuits as defendant; ``dur`` 1 = ordinary, 2 = loan dispute, 3 = labour."""
        m, p = self.m, self._path
        bg = self.background(self._court_rate(0.05, 0.01), amount=np.exp(11 + 0.8 * m.e.z))
        first = self.at(p["idx"], p["court"], amount=p["size"], dur=2)
        extra_n = self.rng.integers(0, 3, len(p["idx"]))
        rep = np.repeat(np.arange(len(p["idx"])), extra_n)
        more = self.at(
            p["idx"][rep],
            p["court"][rep] + self.rng.integers(0, 6, len(rep)),
            amount=p["size"][rep] * 0.5,
            dur=1,
        )
        kind = self.rng.choice([1, 2, 3], len(bg.ent), p=[0.6, 0.25, 0.15])
        bg.dur = kind
        more.dur = self.rng.choice([1, 2, 3], len(more.ent), p=[0.3, 0.4, 0.3])
        return bg + first + more

    @cached_property
    def plaintiff(self) -> Records:
        return self.background(np.where(self.m.is_e, 0.06, 0.005))

    def _path_records(self, on: str, at: str, amount: np.ndarray | float = 0.0) -> Records:
        p = self._path
        sel = p[on] & p["enforce_on"] if on != "enforce_on" else p["enforce_on"]
        amt = p["size"][sel] if isinstance(amount, float) and amount else amount
        return self.at(p["idx"][sel], p[at][sel], amount=amt)

    @cached_property
    def enforce(self) -> Records:
        m = self.m
        bg = self.background(
            self._court_rate(0.012, 0.004), amount=np.exp(11 + 0.8 * m.e.z), dur=(3, 18)
        )
        return bg + self._path_records("enforce_on", "enforce", amount=1.0)

    @cached_property
    def seizure(self) -> Records:
        rate = np.where(self.m.has_real_estate, self._court_rate(0.004, 0.002), 0.0)
        return self.background(rate, dur=(6, 24)) + self._path_records("seize", "seize_at")

    @cached_property
    def freeze(self) -> Records:
        m = self.m
        bg = self.background(
            np.where(m.is_e, self._court_rate(0.002, 0.0), 0.0),
            amount=m.e.capital * 0.3,
            dur=(6, 24),
        )
        path = self._path_records(
            "freeze",
            "freeze_at",
            amount=m.e.capital[self._path["idx"]][self._path["freeze"] & self._path["enforce_on"]]
            * 0.5,
        )
        return bg + path

    @cached_property
    def dishonest(self) -> Records:
        return self.background(self._court_rate(0.002, 0.001), dur=(12, 36)) + self._path_records(
            "dishonest", "dishonest_at"
        )

    @cached_property
    def restrict(self) -> Records:
        return self.background(self._court_rate(0.002, 0.001), dur=(12, 36)) + self._path_records(
            "restrict", "restrict_at"
        )

    @cached_property
    def bankruptcy(self) -> Records:
        p = self._path
        sel = p["bankrupt"]
        return self.at(p["idx"][sel], p["bankrupt_at"][sel])

    # ---- regulators ------------------------------------------------------------------------

    def _distressed_at(
        self,
        share: float,
        after: tuple[int, int],
        dur: int = 10**4,
        amount: np.ndarray | float = 0.0,
    ) -> Records:
        m = self.m
        idx = np.flatnonzero(m.distress.flag & (self.rng.random(m.n) < share))
        when = m.distress.onset[idx] + self.rng.integers(after[0], after[1] + 1, len(idx))
        amt = float(amount) if isinstance(amount, float | int) else np.asarray(amount)[idx]
        return self.at(idx, when, amount=amt, dur=dur)

    @cached_property
    def penalty(self) -> Records:
        """SAMR administrative penalties; ``dur`` tags the kind: 1 general, 2 quality,
        3 food safety, 4 price."""
        m = self.m
        r = self.background(np.where(m.is_e, 0.03, 0.02), amount=np.exp(8.5 + 0.3 * m.e.z))
        kinds = np.where(m.manuf[r.ent], 2, np.where(m.section_in("H")[r.ent], 3, 1))
        kinds = np.where(self.rng.random(len(r.ent)) < 0.15, 4, kinds)
        r.dur = kinds
        return r

    @cached_property
    def abnormal(self) -> Records:
        m = self.m
        bg = self.background(np.where(m.is_e, 0.03, np.where(m.is_i, 0.06, 0.04)), dur=(6, 24))
        return bg + self._distressed_at(0.3, (3, 6), dur=12)

    @cached_property
    def serious(self) -> Records:
        return self.background(np.where(self.m.is_e, 0.001, 0.0003), dur=(36, 36))

    @cached_property
    def complaint(self) -> Records:
        m = self.m
        consumer = m.section_in("FHO")
        return self.background(np.where(consumer, 0.06, 0.01))

    @cached_property
    def env(self) -> Records:
        m = self.m
        return self.background(
            np.where(m.is_e & m.section_in("CDN"), 0.02, 0.0), amount=np.exp(10 + 0.4 * m.e.z)
        )

    @cached_property
    def safety(self) -> Records:
        """Work-safety penalties (``dur`` 1) and fire-safety penalties (``dur`` 2)."""
        m = self.m
        work = self.background(np.where(m.section_in("CE") & ~m.is_c, 0.015, 0.0))
        fire = self.background(np.where(m.section_in("FH"), 0.01, 0.002))
        work.dur[:] = 1
        fire.dur[:] = 2
        return work + fire

    @cached_property
    def customs(self) -> Records:
        m = self.m
        return self.background(np.where(m.exporter | m.importer, 0.02, 0.0))

    @cached_property
    def arrears(self) -> Records:
        return self.background(np.where(self.m.distress.flag, 0.0, 0.005)) + self._distressed_at(
            0.9, (2, 4)
        )

    @cached_property
    def tax_penalty(self) -> Records:
        return self.background(np.where(self.m.is_e, 0.01, 0.002))

    @cached_property
    def tax_abnormal(self) -> Records:
        return self.background(np.where(self.m.is_i, 0.01, 0.004), dur=(3, 12)) + (
            self._distressed_at(0.3, (5, 8), dur=12)
        )

    @cached_property
    def labour(self) -> Records:
        m = self.m
        return self.background(np.where(m.is_e, 0.01, 0.001)) + self._distressed_at(0.5, (2, 6))

    @cached_property
    def owed_wages(self) -> Records:
        return self._distressed_at(0.4, (3, 6), dur=12)

    @cached_property
    def changes(self) -> Records:
        """Registration changes (SAMR); ``dur`` tags: 1 scope, 2 address, 3 capital,
        4 legal representative, 5 controlling shareholder."""
        m = self.m
        r = self.background(np.where(m.is_e, 0.25, np.where(m.is_i, 0.05, 0.1)))
        r.dur = self.rng.choice([1, 2, 3, 4, 5], len(r.ent), p=[0.35, 0.25, 0.15, 0.15, 0.10])
        return r

    def families(self) -> dict[str, Records]:
        """The families counted in the public credit system's negative-record total."""
        return {
            "lawsuit": self.lawsuit,
            "enforce": self.enforce,
            "seizure": self.seizure,
            "freeze": self.freeze,
            "dishonest": self.dishonest,
            "penalty": self.penalty,
            "abnormal": self.abnormal,
            "env": self.env,
            "safety": self.safety,
            "customs": self.customs,
            "arrears": self.arrears,
            "tax_penalty": self.tax_penalty,
        }
