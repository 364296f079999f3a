"""The latent city behind the feeds: size, growth, seasonality and distress of each entity.

Everything is an ``(n, S)`` array over the chunk's entities and the simulated months (the
reported months plus a 12-month warm-up). Feeds derive their indicators from these shared
series, which is what makes tax, headcount and electricity correlated with each other and
with registered capital, and what makes them fall together in distressed firms:

- ``z`` (latent size) drives registered capital, headcount, sales, power and water levels;
- ``common`` = yearly trend + AR(1) business cycle, shared by every series of one entity;
- ``distress`` <= 0: a linear decline that starts at ``onset`` for a small share of firms;
  their first court case follows 4-8 months later (``court``), so warning indicators move
  before the negative records appear.

Invariants: values are ``nan`` / ``0`` where the entity does not exist (before establishment,
after exit); nothing is drawn from a shared random stream (see ``registry.stream``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from puhui.ingest.generator.calendar import WARMUP, Calendar
from puhui.ingest.generator.registry import COOPERATIVE, ENTERPRISE, INDIVIDUAL, Entities, stream

# month-of-year factors (January first): Spring Festival dip, year-end peak, summer cooling
SEASON_SALES = np.array([1.00, 0.72, 1.02, 1.00, 1.00, 1.03, 1.00, 0.98, 1.02, 0.97, 1.03, 1.18])
SEASON_POWER = np.array([1.05, 0.75, 0.98, 0.95, 0.98, 1.08, 1.22, 1.25, 1.08, 0.95, 0.95, 1.05])
SEASON_WATER = np.array([0.90, 0.80, 0.95, 1.00, 1.05, 1.10, 1.20, 1.20, 1.10, 1.00, 0.90, 0.90])
SEASON_GAS = np.array([1.30, 1.10, 1.00, 0.90, 0.80, 0.75, 0.75, 0.75, 0.80, 0.90, 1.10, 1.30])

DISTRESS_SHARE = np.array([0.025, 0.012, 0.010])  # by kind


def roll(x: np.ndarray, w: int) -> np.ndarray:
    """Trailing sum over ``w`` months along axis 1 (partial at the start)."""
    c = np.cumsum(x, axis=1)
    out = c.copy()
    out[:, w:] = c[:, w:] - c[:, :-w]
    return out


def roll_max(x: np.ndarray, w: int) -> np.ndarray:
    out = x.copy()
    for lag in range(1, w):
        out[:, lag:] = np.maximum(out[:, lag:], x[:, :-lag])
    return out


def lag(x: np.ndarray, k: int, fill: float = np.nan) -> np.ndarray:
    out = np.full_like(x, fill, dtype=float)
    out[:, k:] = x[:, :-k]
    return out


def growth(level: np.ndarray, k: int, alive: np.ndarray) -> np.ndarray:
    """``level[t] / level[t-k] - 1`` where both months exist and the base is positive; nan
    otherwise, and nan where the rate would exceed the catalog's maximum of 100 (10,000 %)."""
    base = lag(np.where(alive, level, np.nan), k)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(alive & (base > 0), level / base - 1, np.nan)
    g = np.round(g, 4) + 0.0
    return np.where(g <= 100, g, np.nan)


def trailing(x: np.ndarray, w: int) -> np.ndarray:
    """Trailing ``w``-month sums at the reported months only: ``(k, S)`` in, ``(k, T)`` out."""
    c = np.cumsum(x, axis=1)
    S = x.shape[1]
    if w <= WARMUP:
        out: np.ndarray = c[:, WARMUP:] - c[:, WARMUP - w : S - w]
        return out
    at = np.arange(WARMUP, S)
    prev = at - w
    return c[:, at] - np.where(prev >= 0, c[:, np.maximum(prev, 0)], 0.0)


def change(level: np.ndarray, k: int, alive: np.ndarray) -> np.ndarray:
    """Like :func:`growth` but only at the reported months: ``(k, S)`` in, ``(k, T)`` out."""
    S = level.shape[1]
    cur, base = level[:, WARMUP:], level[:, WARMUP - k : S - k]
    ok = alive[:, WARMUP:] & alive[:, WARMUP - k : S - k] & (base > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.round(np.where(ok, cur / np.where(ok, base, 1.0) - 1, np.nan), 4) + 0.0
    g[g > 100] = np.nan
    return g


def money(x: np.ndarray) -> np.ndarray:
    return np.round(x, 2) + 0.0  # + 0.0 turns -0.0 into 0.0


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1 / (1 + np.exp(-x)), dtype=float)


@dataclass
class Distress:
    flag: np.ndarray  # (n,) bool
    onset: np.ndarray  # (n,) simulated month index, -1 if not distressed
    court: np.ndarray  # (n,) simulated month index of the first court case, -1 if none
    effect: np.ndarray  # (n, S) log-level effect, <= 0


class Model:
    """Shared latent series of one chunk. Properties are computed on first use."""

    def __init__(self, cal: Calendar, ents: Entities, *, seed: int, chunk: int) -> None:
        self.cal = cal
        self.e = ents
        self.seed = seed
        self.chunk = chunk
        self.n = len(ents)
        self.S = cal.sim_len
        g = cal.sim_start + np.arange(self.S)
        self.alive = (ents.est_g[:, None] <= g) & (g < ents.exit_g[:, None])
        self.moy = cal.moy
        self.is_e = ents.kind == ENTERPRISE
        self.is_i = ents.kind == INDIVIDUAL
        self.is_c = ents.kind == COOPERATIVE
        self.manuf = ents.section == "C"
        self.reported = self.alive[:, WARMUP:].any(axis=1)

    def rng(self, name: str) -> np.random.Generator:
        return stream(self.seed, self.chunk, name)

    def section_in(self, sections: str) -> np.ndarray:
        return np.isin(self.e.section, list(sections))

    def division_in(self, *divisions: str) -> np.ndarray:
        return np.isin(self.e.division, divisions)

    # ---- shared latent series -------------------------------------------------------------

    @cached_property
    def common(self) -> np.ndarray:
        rng = self.rng("common")
        n, S = self.n, self.S
        trend = np.where(self.is_e, 0.04, 0.02) + rng.normal(0, 0.10, n)
        ar = np.zeros((n, S))
        shocks = rng.normal(0, 0.05, (n, S))
        ar[:, 0] = shocks[:, 0] / np.sqrt(1 - 0.85**2)
        for j in range(1, S):
            ar[:, j] = 0.85 * ar[:, j - 1] + shocks[:, j]
        return trend[:, None] * (np.arange(S) - WARMUP)[None, :] / 12 + ar

    @cached_property
    def distress(self) -> Distress:
        rng = self.rng("distress")
        n, S, T = self.n, self.S, self.cal.months
        e = self.e
        candidate = (e.exit_g == 10**6) & (e.est_g <= self.cal.first - 12)
        flag = candidate & (rng.random(n) < DISTRESS_SHARE[e.kind]) & (T >= 12)
        o = rng.integers(2, max(T - 9, 3), n)  # reported month of onset
        court_lag = rng.integers(4, 9, n)
        onset = np.where(flag, WARMUP + o, -1)
        court = np.where(flag, np.minimum(WARMUP + o + court_lag, S - 2), -1)
        rate = rng.uniform(0.07, 0.14, n)
        since = np.arange(S)[None, :] - onset[:, None] + 1
        effect = np.where(
            flag[:, None] & (since > 0), np.maximum(-rate[:, None] * since, -2.5), 0.0
        )
        return Distress(flag, onset, court, effect)

    def series(
        self,
        name: str,
        base: np.ndarray,
        season: np.ndarray,
        *,
        beta: float = 1.0,
        gamma: float = 1.0,
        noise: float = 0.08,
    ) -> np.ndarray:
        """``base * season * exp(beta * common + gamma * distress + noise)``, 0 where not alive."""
        rng = self.rng("series:" + name)
        idio = rng.normal(0, noise, (self.n, self.S))
        x = (
            base[:, None]
            * season[self.moy][None, :]
            * np.exp(beta * self.common + gamma * self.distress.effect + idio)
        )
        return np.where(self.alive, x, 0.0)

    @cached_property
    def headcount(self) -> np.ndarray:
        """Insured staff per month (int)."""
        rng = self.rng("headcount")
        z, n = self.e.z, self.n
        e2 = rng.normal(0, 0.45, n)
        base = np.select(
            [self.is_e, self.is_i],
            [
                np.exp(1.6 + 1.05 * z + e2) * np.where(self.manuf, 2.2, 1.0),
                1 + np.floor(np.exp(-0.3 + 0.7 * z + e2)),
            ],
            np.exp(1.0 + 0.6 * z + e2),
        )
        base = np.minimum(base, 20_000)
        x = self.series("headcount", base, np.ones(12), beta=0.5, gamma=0.8, noise=0.02)
        hc = np.round(x)
        return np.where(self.alive, np.maximum(hc, np.where(self.is_e, 1, 0)[:, None]), 0).astype(
            np.int64
        )

    @cached_property
    def wage(self) -> np.ndarray:
        """Average monthly wage per insured person (yuan)."""
        rng = self.rng("wage")
        factor = np.where(self.section_in("IJM"), 1.5, np.where(self.section_in("HO"), 0.8, 1.0))
        return 6800 * factor * np.exp(rng.normal(0, 0.3, self.n) + 0.08 * self.e.z)

    @cached_property
    def sales(self) -> np.ndarray:
        """Monthly sales (yuan)."""
        rng = self.rng("sales")
        z, n = self.e.z, self.n
        eps = rng.normal(0, 0.5, n)
        base = np.select(
            [self.is_e, self.is_i],
            [
                np.exp(11.6 + 1.35 * z + eps) * np.where(self.manuf, 1.5, 1.0),
                np.exp(9.6 + 0.8 * z + eps),
            ],
            np.exp(10.5 + 0.8 * z + eps),
        )
        return self.series("sales", base, SEASON_SALES, gamma=1.2, noise=0.12)

    @cached_property
    def power(self) -> np.ndarray:
        """Monthly electricity use (kWh)."""
        rng = self.rng("power")
        z, n = self.e.z, self.n
        eps = rng.normal(0, 0.6, n)
        industry = np.where(self.manuf, 6.0, np.where(self.section_in("DEG"), 1.5, 1.0))
        base = np.select(
            [self.is_e, self.is_i],
            [np.exp(7.0 + 1.2 * z + eps) * industry, np.exp(5.6 + 0.5 * z + eps)],
            np.exp(6.5 + 0.6 * z + eps),
        )
        return self.series("power", base, SEASON_POWER, beta=0.8, noise=0.08)

    @cached_property
    def small_micro(self) -> np.ndarray:
        """Enterprises under the small/micro thresholds (most of them)."""
        staff = self.headcount[:, WARMUP:].max(axis=1, initial=0)
        yearly_sales = self.sales[:, WARMUP:].sum(axis=1) * 12 / self.cal.months
        return np.asarray(self.is_e & (staff < 300) & (yearly_sales < 2e8))

    def flags(self, name: str, p: np.ndarray | float) -> np.ndarray:
        """An entity-level Bernoulli draw on its own stream."""
        return self.rng("flag:" + name).random(self.n) < p

    @cached_property
    def has_real_estate(self) -> np.ndarray:
        p = np.select(
            [self.is_e, self.is_i],
            [sigmoid(0.9 * self.e.z - 0.6 + 0.8 * self.manuf), 0.03],
            np.where(self.section_in("A"), 0.25, 0.1),
        )
        return self.flags("real_estate", p) & self.reported

    @cached_property
    def exporter(self) -> np.ndarray:
        p = np.where(
            self.is_e,
            np.where(self.manuf, 0.28, np.where(self.division_in("51"), 0.25, 0.02)),
            np.where(self.division_in("51"), 0.01, 0.0),
        )
        return self.flags("exporter", p * sigmoid(self.e.z + 1) * 1.3) & self.reported

    @cached_property
    def importer(self) -> np.ndarray:
        p = np.where(self.exporter, 0.6, np.where(self.is_e, 0.02, 0.0))
        return self.flags("importer", p) & self.reported

    @cached_property
    def exports(self) -> np.ndarray:
        """Monthly exports (yuan), lumpy: some months ship nothing."""
        rng = self.rng("exports")
        base = np.exp(13.0 + 1.3 * self.e.z + rng.normal(0, 0.8, self.n))
        x = self.series("exports", base, SEASON_SALES, noise=0.35)
        ship = rng.random((self.n, self.S)) < 0.85
        return np.where(self.exporter[:, None] & ship, x, 0.0)

    @cached_property
    def imports(self) -> np.ndarray:
        rng = self.rng("imports")
        base = np.exp(12.5 + 1.2 * self.e.z + rng.normal(0, 0.8, self.n))
        x = self.series("imports", base, SEASON_SALES, noise=0.35)
        ship = rng.random((self.n, self.S)) < 0.75
        return np.where(self.importer[:, None] & ship, x, 0.0)

    @cached_property
    def holdings(self) -> Holdings:
        """Real estate of holders by type (factory, office, shop, housing, warehouse,
        industrial land, commercial land, farmland rights)."""
        rng = self.rng("holdings")
        n, sec = self.n, self.e.section
        p = np.zeros((n, 8))
        p[:, 0] = np.where(self.manuf, 0.85, 0.05)
        p[:, 1] = np.where(self.is_e, 0.3, 0.05)
        p[:, 2] = np.where(np.isin(sec, ["F", "H", "K"]), 0.45, 0.08)
        p[:, 3] = 0.10
        p[:, 4] = np.where(np.isin(sec, ["F", "G"]), 0.45, 0.05)
        p[:, 5] = np.where(self.manuf, 0.7, 0.02)
        p[:, 6] = np.where(np.isin(sec, ["F", "H", "K"]), 0.15, 0.01)
        p[:, 7] = np.where(sec == "A", 0.9, 0.0)
        has = (rng.random((n, 8)) < p) & self.has_real_estate[:, None]
        none = self.has_real_estate & ~has.any(axis=1)
        has[none, 1] = True  # every holder holds something: an office at least
        scale = np.exp(0.7 * self.e.z[:, None] + rng.normal(0, 0.6, (n, 8)))
        typical = np.array([3000, 400, 250, 120, 1500, 6000, 1500, 30000], dtype=float)
        unit = np.array([3000, 15000, 20000, 25000, 2500, 800, 6000, 50], dtype=float)
        area = np.where(has, np.round(typical * scale, 2), 0.0)
        price = unit * np.exp(rng.normal(0, 0.25, (n, 8)))
        titles = np.where(has, 1 + rng.poisson(0.6, (n, 8)), 0)
        return Holdings(area=area, price=price, titles=titles)


@dataclass
class Holdings:
    area: np.ndarray  # (n, 8) m2
    price: np.ndarray  # (n, 8) yuan per m2 at the first reported month
    titles: np.ndarray  # (n, 8) title certificates

    @property
    def value(self) -> np.ndarray:
        return np.asarray(self.area * self.price)
