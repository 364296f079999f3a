"""NRP (real estate, quarterly wide CSV ``YYYY-Qn``; seizures, CSV), CNIPA (intellectual
property, monthly wide CSV; annual long CSV) and CCRC (movable collateral, monthly long CSV).

Consistency kept: real-estate totals are the sums over the eight holding types (buildings
01-05, land 06-08); the mortgage ratio is mortgaged value over total value; valid patents
are invention + utility model + design patents, and only grow by grants or shrink by expiry.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from puhui.ingest.generator.catalog import codes
from puhui.ingest.generator.events import Histories
from puhui.ingest.generator.feeds import FileSpec, nan_unless
from puhui.ingest.generator.feeds.legal import add_new, add_records
from puhui.ingest.generator.frames import Long, Wide
from puhui.ingest.generator.model import Model, money, sigmoid, trailing

NRP_QUARTERLY = codes("NRP", "quarterly")
CNIPA_MONTHLY = codes("CNIPA", "monthly")
CNIPA_ANNUAL = codes("CNIPA", "annual")
CCRC_MONTHLY = codes("CCRC", "monthly")

FILES = (
    FileSpec(
        "NRP/real_estate_quarterly.csv",
        "NRP",
        "csv",
        "utf-8-sig",
        "wide",
        NRP_QUARTERLY,
        dirt=("out_of_range", "bad_period", "unknown_uscc"),
    ),
    FileSpec("NRP/seizures.csv", "NRP", "csv", "utf-8", "long", ("PRP_REAL_ESTATE_SEIZED",)),
    FileSpec(
        "CNIPA/ip_monthly.csv", "CNIPA", "csv", "utf-8", "wide", CNIPA_MONTHLY, dirt=("wrong_type",)
    ),
    FileSpec("CNIPA/ip_annual.csv", "CNIPA", "csv", "utf-8", "long", CNIPA_ANNUAL),
    FileSpec(
        "CCRC/movable_collateral.csv",
        "CCRC",
        "csv",
        "utf-8",
        "long",
        CCRC_MONTHLY,
        dirt=("wrong_type", "unknown_indicator"),
    ),
)


def build(m: Model, h: Histories) -> dict[str, pl.DataFrame]:
    return {
        "NRP/real_estate_quarterly.csv": _real_estate(m),
        "NRP/seizures.csv": _seizures(m, h),
        **_ip(m),
        "CCRC/movable_collateral.csv": _collateral(m, h),
    }


def _real_estate(m: Model) -> pl.DataFrame:
    rng = m.rng("nrp")
    axis = m.cal.quarterly
    idx = np.flatnonzero(m.has_real_estate)
    k, P = len(idx), len(axis)
    hold = m.holdings
    area, titles = hold.area[idx], hold.titles[idx]
    index = np.exp(np.cumsum(rng.normal(-0.005, 0.01, (k, P)), axis=1))
    value = money(area[:, :, None] * hold.price[idx][:, :, None] * index[:, None, :])  # (k, 8, P)
    w = Wide(m, idx, axis)
    for t in range(8):
        held = area[:, t] > 0
        w.add(f"PRP_RE_{t + 1:02d}_VALUE", nan_unless(held, value[:, t, :]))
        w.add(
            f"PRP_RE_{t + 1:02d}_AREA",
            nan_unless(held, np.broadcast_to(area[:, t : t + 1], (k, P))),
        )
    total = money(value.sum(axis=1))
    w.add("PRP_REAL_ESTATE_VALUE", total)
    w.add(
        "PRP_REAL_ESTATE_COUNT", np.broadcast_to(titles[:, :5].sum(axis=1, keepdims=True), (k, P))
    )
    w.add(
        "PRP_REAL_ESTATE_AREA",
        np.broadcast_to(np.round(area[:, :5].sum(axis=1, keepdims=True), 2), (k, P)),
    )
    w.add(
        "PRP_LAND_AREA",
        np.broadcast_to(np.round(area[:, 5:].sum(axis=1, keepdims=True), 2), (k, P)),
    )
    w.add("PRP_LAND_COUNT", np.broadcast_to(titles[:, 5:].sum(axis=1, keepdims=True), (k, P)))
    mortgaged_share = np.where(rng.random(k) < 0.5, rng.uniform(0.5, 1.0, k), 0.0)[:, None]
    mortgaged = money(total * mortgaged_share)
    w.add("PRP_MORTGAGED_REAL_ESTATE", mortgaged)
    with np.errstate(divide="ignore", invalid="ignore"):
        w.add("PRP_MORTGAGE_RATIO", np.where(total > 0, mortgaged / total, np.nan))
    building = rng.random(k) < 0.05
    w.add(
        "PRP_CONSTRUCTION_PERMITS",
        nan_unless(building, np.broadcast_to(1 + rng.poisson(0.5, (k, 1)), (k, P))),
    )
    w.add(
        "PRP_CONSTRUCTION_IN_PROGRESS",
        nan_unless(building, money(total * rng.uniform(0.1, 0.5, (k, 1)))),
    )
    return w.frame(NRP_QUARTERLY)


def _seizures(m: Model, h: Histories) -> pl.DataFrame:
    long = Long(m)
    seized = h.seizure
    add_new(long, "PRP_REAL_ESTATE_SEIZED", seized.select(m.has_real_estate[seized.ent]))
    return long.frame()


def _ip(m: Model) -> dict[str, pl.DataFrame]:
    rng = m.rng("cnipa")
    z, S = m.e.z, m.S
    tech = m.section_in("IM")
    patent_p = np.where(m.is_e, np.where(m.manuf, 0.30, np.where(tech, 0.35, 0.04)), 0.002)
    mark_p = np.where(m.is_e, 0.25, np.where(m.is_i, 0.03, 0.1))
    patents = m.flags("cnipa:patents", patent_p * sigmoid(z + 0.5) * 1.6) & m.reported
    marks = m.flags("cnipa:marks", mark_p) & m.reported
    soft = m.flags("cnipa:copyrights", np.where(tech, 0.4, 0.02)) & m.reported & m.is_e
    idx = np.flatnonzero(patents | marks | soft)
    k = len(idx)
    alive = m.alive[idx]
    scale = np.exp(0.7 * z[idx])

    def stock(has: np.ndarray, start_mean: float, rate: float, expiry: float) -> np.ndarray:
        start = rng.poisson(start_mean * scale)
        grants = rng.poisson(rate * scale[:, None], (k, S))
        expire = rng.random((k, S)) < expiry
        s = np.maximum(start[:, None] + np.cumsum(grants - expire, axis=1), 0)
        return np.where(has[:, None], s, np.nan)

    p_has = patents[idx]
    inv = stock(p_has, 1.0, 0.02, 0.002)
    util = stock(p_has, 4.0, 0.08, 0.01)
    design = stock(p_has, 1.5, 0.03, 0.005)
    w = Wide(m, idx, m.cal.monthly)
    w.add("PRP_PATENTS", inv + util + design)
    w.add("PRP_INVENTION_PATENTS", inv)
    w.add("PRP_UTILITY_PATENTS", util)
    w.add("PRP_DESIGN_PATENTS", design)
    w.add("PRP_TRADEMARKS", stock(marks[idx], 2.0, 0.03, 0.002))
    w.add("PRP_COPYRIGHTS", stock(soft[idx], 3.0, 0.08, 0.0))
    applications = rng.poisson(0.18 * scale[:, None], (k, S)).astype(float)
    w.add("PRP_PATENT_APPLICATIONS_12M", nan_unless(p_has, trailing(applications, 12)))
    transfers = (rng.random((k, S)) < 0.01).astype(float)
    w.add("PRP_PATENTS_TRANSFERRED_12M", nan_unless(p_has, trailing(transfers, 12)))
    pledged = p_has & (rng.random(k) < 0.05)
    w.add(
        "PRP_IP_PLEDGES", nan_unless(pledged, np.broadcast_to(1 + rng.poisson(0.3, (k, 1)), (k, S)))
    )
    w.add(
        "PRP_IP_PLEDGE_AMOUNT",
        nan_unless(pledged, np.broadcast_to(money(np.exp(14 + 0.5 * z[idx]))[:, None], (k, S))),
    )
    del alive

    long = Long(m)
    axis = m.cal.annual
    Y = len(axis)
    specs = (
        ("PRP_DOMAIN_NAMES", np.where(m.is_e, 0.2, 0.01), 1.0),
        ("PRP_INTEGRATED_CIRCUITS", np.where(m.division_in("39"), 0.1, 0.0), 2.0),
        ("PRP_WELL_KNOWN_MARKS", np.where(marks, 0.003, 0.0), 0.1),
        ("PRP_GEO_MARKS", np.where(m.is_c, 0.05, 0.0), 0.1),
        ("POS_IP_ADVANTAGE", np.where(patents, 0.03, 0.0), 0.0),
        ("POS_IP_DEMO", np.where(patents, 0.01, 0.0), 0.0),
    )
    for code, p, lam in specs:
        sel = np.flatnonzero(m.flags("cnipa:" + code, p) & m.reported)
        values = np.broadcast_to(1 + rng.poisson(lam, (len(sel), 1)), (len(sel), Y)).astype(float)
        long.add_matrix(code, sel, axis, values)
    return {"CNIPA/ip_monthly.csv": w.frame(CNIPA_MONTHLY), "CNIPA/ip_annual.csv": long.frame()}


def _collateral(m: Model, h: Histories) -> pl.DataFrame:
    rng = m.rng("ccrc")
    long = Long(m)
    axis = m.cal.monthly
    holders = np.flatnonzero(
        m.flags("ccrc:movables", np.where(m.is_e & m.section_in("CF"), 0.15, 0.0)) & m.reported
    )
    value = money(np.exp(12.5 + 1.0 * m.e.z[holders] + rng.normal(0, 0.5, len(holders))))
    drift = np.exp(np.cumsum(rng.normal(0, 0.03, (len(holders), len(axis))), axis=1))
    long.add_matrix(
        "PRP_MOVABLE_COLLATERAL", holders, axis, money(value[:, None] * drift), nonzero=True
    )
    pledges = h.background(
        np.where(m.is_e, 0.02, 0.0), amount=np.exp(13 + 0.8 * m.e.z), dur=(6, 24)
    )
    add_records(long, "PRP_RECEIVABLE_PLEDGES", pledges, pledges.active())
    add_records(long, "PRP_RECEIVABLE_PLEDGE_AMOUNT", pledges, pledges.active(pledges.amount))
    mortgages = h.background(np.where(m.is_e, 0.03, 0.002), dur=(1, 1))
    add_records(long, "PRP_NEW_CHATTEL_MORTGAGE", mortgages + pledges, (mortgages + pledges).new())
    return long.frame()
