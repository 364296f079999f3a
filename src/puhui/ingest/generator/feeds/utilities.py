"""POWER (electricity, Parquet wide; capacity events, CSV) and WATER (water and gas, CSV).

Consistency kept: peak + valley + flat = the month's use; 3M/12M sums and growth come from
the rounded month values; bills are 12-month use x the account's tariff; arrears, late
payments, supply cuts and the utility-anomaly grade follow the distress process.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from puhui.ingest.generator.calendar import WARMUP
from puhui.ingest.generator.catalog import codes
from puhui.ingest.generator.events import Histories
from puhui.ingest.generator.feeds import FileSpec, five, nan_unless
from puhui.ingest.generator.frames import Long, Wide
from puhui.ingest.generator.model import SEASON_GAS, SEASON_WATER, Model, money, trailing

POWER_MONTHLY = codes("POWER", "monthly")
WATER_MONTHLY = codes("WATER", "monthly")
CAPACITY_STEPS = np.array(
    [
        30,
        50,
        80,
        100,
        160,
        200,
        250,
        315,
        400,
        500,
        630,
        800,
        1000,
        1250,
        1600,
        2000,
        2500,
        3150,
        4000,
        5000,
        6300,
        8000,
        10000,
        20000,
    ]
)

FILES = (
    FileSpec(
        "POWER/electricity_monthly.parquet",
        "POWER",
        "parquet",
        None,
        "wide",
        POWER_MONTHLY,
        dirt=("out_of_range", "bad_grade", "invalid_uscc"),
    ),
    FileSpec("POWER/capacity.csv", "POWER", "csv", "utf-8", "long", ("OPR_POWER_CAPACITY",)),
    FileSpec(
        "WATER/water_gas_monthly.csv",
        "WATER",
        "csv",
        "utf-8",
        "wide",
        WATER_MONTHLY,
        dirt=("invalid_uscc", "out_of_range", "wrong_type"),
    ),
)


def build(m: Model, h: Histories) -> dict[str, pl.DataFrame]:
    out = _power(m)
    out["WATER/water_gas_monthly.csv"] = _water(m)
    return out


def _power(m: Model) -> dict[str, pl.DataFrame]:
    rng = m.rng("power")
    p = np.select([m.is_e, m.is_i], [np.where(m.manuf, 0.9, 0.6), 0.35], 0.4)
    idx = np.flatnonzero(m.flags("power", p) & m.reported)
    k, S = len(idx), m.S
    alive = m.alive[idx]
    use = five(m.power[idx], alive)
    month = np.where(alive, money(m.power[idx]), 0.0)
    peak_share = np.clip(rng.uniform(0.35, 0.5, k)[:, None] + rng.normal(0, 0.02, (k, S)), 0.2, 0.6)
    valley_share = rng.uniform(0.15, 0.35, k)[:, None]
    peak = money(month * peak_share)
    valley = money(month * valley_share)
    # business accounts (enterprises, large shops) are metered by time of use and load;
    # small individual businesses report consumption and billing only
    metered = m.is_e[idx] | (np.median(m.power[idx][:, WARMUP:], axis=1) > 3000)
    w = Wide(m, idx, m.cal.monthly)
    w.add("OPR_POWER_PEAK_M", nan_unless(metered, peak))
    w.add("OPR_POWER_VALLEY_M", nan_unless(metered, valley))
    w.add("OPR_POWER_FLAT_M", nan_unless(metered, money(month - peak - valley)))
    ds = m.distress
    since = np.arange(S)[None, :] - ds.onset[idx][:, None]
    dist = ds.flag[idx][:, None]
    load = rng.uniform(0.2, 0.9, k)[:, None] * np.where(dist & (since >= 0), 0.7, 1.0)
    load = np.clip(load + rng.normal(0, 0.02, (k, S)), 0.01, 1.0)
    w.add("OPR_POWER_LOAD_FACTOR", nan_unless(metered, load))
    hc = m.headcount[idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_head = np.where(hc > 0, month / hc, np.nan)
        sales = m.sales[idx]
        intensity = np.where(sales > 0, month / (sales / 1e4), np.nan)
    w.add("OPR_POWER_PER_EMPLOYEE", nan_unless(metered, per_head))
    w.add("OPR_POWER_TO_SALES", nan_unless(metered, np.where(intensity <= 1e6, intensity, np.nan)))
    for suffix, values in use.items():
        w.add(f"OPR_POWER_{suffix}", values)
    tariff = np.where(m.is_e[idx], rng.uniform(0.75, 0.95, k), rng.uniform(0.55, 0.8, k))[:, None]
    w.add("OPR_POWER_BILL_12M", money(use["12M"] * tariff))
    late_p = np.where(dist & (since >= 1), 0.5, 0.01)
    late = (rng.random((k, S)) < late_p) & alive
    w.add("OPR_POWER_LATE_PAYMENTS_12M", trailing(late.astype(float), 12))
    # arrears: distressed accounts accumulate unpaid bills; others owe a bill now and then
    bill = month * tariff
    owing = dist[:, 0] | (rng.random(k) < 0.01)
    arrears = np.where(
        dist,
        np.cumsum(np.where(since >= 2, bill * 0.6, 0.0), axis=1),
        np.where(late, bill * 0.3, 0.0),
    )
    w.add("OPR_UTILITY_ARREARS", nan_unless(owing, money(arrears)))
    cut = dist & (since >= 6) & (rng.random((k, 1)) < 0.4)
    w.add("OPR_POWER_SUSPENDED", nan_unless(metered, cut.astype(float)))
    cut_start = cut & ~np.concatenate([np.zeros((k, 1), bool), cut[:, :-1]], axis=1)
    w.add("NEG_UTILITY_CUTOFFS_12M", nan_unless(metered, trailing(cut_start.astype(float), 12)))
    yoy = np.nan_to_num(use["YOY"], nan=0.0)
    risk = np.where(
        cut[:, WARMUP:] | (yoy < -0.5), 2, np.where((yoy < -0.25) | (arrears[:, WARMUP:] > 0), 1, 0)
    )
    w.add_labels(
        "CRE_UTILITY_RISK", np.where(metered[:, None], risk, -1), ("normal", "watch", "abnormal")
    )

    return {
        "POWER/electricity_monthly.parquet": w.frame(POWER_MONTHLY),
        "POWER/capacity.csv": _capacity(m, idx, load[:, 0], rng),
    }


def _capacity(
    m: Model, idx: np.ndarray, load: np.ndarray, rng: np.random.Generator
) -> pl.DataFrame:
    """Connected capacity: registered when the account was opened, raised now and then."""
    k = len(idx)
    cap_need = np.median(m.power[idx][:, WARMUP:], axis=1) / (720 * load) * 1.5
    step = np.searchsorted(CAPACITY_STEPS, cap_need)
    capacity = CAPACITY_STEPS[np.minimum(step, len(CAPACITY_STEPS) - 1)].astype(float)
    big = m.is_e[idx] | (cap_need > 20)
    opened = np.maximum(m.e.est_g[idx], 1995 * 12)
    long = Long(m)
    long.add("OPR_POWER_CAPACITY", idx[big], opened[big], capacity[big])
    changed = big & (rng.random(k) < 0.03 * m.cal.months / 12)
    when = m.cal.first + rng.integers(0, m.cal.months, k)
    ok = changed & (when > opened) & (when < m.e.exit_g[idx])
    new_cap = CAPACITY_STEPS[np.minimum(step + 1, len(CAPACITY_STEPS) - 1)].astype(float)
    long.add("OPR_POWER_CAPACITY", idx[ok], when[ok], new_cap[ok])
    return long.frame()


def _water(m: Model) -> pl.DataFrame:
    rng = m.rng("water")
    z, n = m.e.z, m.n
    water_p = np.select([m.is_e, m.is_i], [0.5, 0.25], 0.3)
    gas_p = np.where(m.section_in("H"), 0.35, np.where(m.is_e & m.manuf, 0.25, 0.03))
    has_water = m.flags("water", water_p) & m.reported
    has_gas = m.flags("gas", gas_p) & m.reported
    idx = np.flatnonzero(has_water | has_gas)
    eps = rng.normal(0, 0.7, n)
    water_base = np.where(
        m.is_e,
        np.exp(4.0 + 0.9 * z + eps) * np.where(m.manuf, 3, 1),
        np.exp(2.3 + 0.4 * z + eps) * np.where(m.section_in("H"), 4, 1),
    )
    gas_base = np.where(m.is_e, np.exp(6 + z + 0.5 * eps), np.exp(5 + 0.4 * z + 0.5 * eps))
    water = m.series("water", water_base, SEASON_WATER, beta=0.6, noise=0.1)[idx]
    gas = m.series("gas", gas_base, SEASON_GAS, beta=0.8, noise=0.1)[idx]
    alive = m.alive[idx]
    k, S = len(idx), m.S
    w = Wide(m, idx, m.cal.monthly)
    ds = m.distress
    dist = ds.flag[idx][:, None] & (np.arange(S)[None, :] >= ds.onset[idx][:, None] + 1)
    for name, level, has, price in (
        ("WATER", water, has_water[idx], (5.4, 6.1)),
        ("GAS", gas, has_gas[idx], (3.6, 4.4)),
    ):
        parts = five(level, alive)
        for suffix, values in parts.items():
            w.add(f"OPR_{name}_{suffix}", nan_unless(has, values))
        tariff = rng.uniform(*price, k)[:, None]
        w.add(f"OPR_{name}_BILL_12M", nan_unless(has, money(parts["12M"] * tariff)))
        late = (rng.random((k, S)) < np.where(dist, 0.5, 0.01)) & alive
        w.add(f"OPR_{name}_LATE_PAYMENTS_12M", nan_unless(has, trailing(late.astype(float), 12)))
    return w.frame(WATER_MONTHLY)
