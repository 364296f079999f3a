"""CUSTOMS: monthly trade of importers and exporters (wide CSV with BOM) and annual credit
status (long CSV). Trade = exports + imports, from the same rounded month values."""

from __future__ import annotations

import numpy as np
import polars as pl

from puhui.ingest.generator.catalog import codes
from puhui.ingest.generator.events import Histories
from puhui.ingest.generator.feeds import FileSpec, five, nan_unless, spread
from puhui.ingest.generator.frames import Long, Wide
from puhui.ingest.generator.model import Model, money, trailing

MONTHLY = codes("CUSTOMS", "monthly")
ANNUAL = codes("CUSTOMS", "annual")
CREDIT = ("AEO_ADVANCED", "GENERAL_CERTIFIED", "GENERAL", "UNRELIABLE")

FILES = (
    FileSpec(
        "CUSTOMS/trade_monthly.csv",
        "CUSTOMS",
        "csv",
        "utf-8-sig",
        "wide",
        MONTHLY,
        dirt=("unknown_uscc", "duplicate_row"),
    ),
    FileSpec(
        "CUSTOMS/credit_annual.csv", "CUSTOMS", "csv", "utf-8", "long", ANNUAL, dirt=("bad_grade",)
    ),
)


def build(m: Model, h: Histories) -> dict[str, pl.DataFrame]:
    rng = m.rng("customs")
    idx = np.flatnonzero(m.exporter | m.importer)
    k, S = len(idx), m.S
    alive = m.alive[idx]
    exp_, imp = money(m.exports[idx]), money(m.imports[idx])
    w = Wide(m, idx, m.cal.monthly)
    for name, level, has in (
        ("EXPORT", exp_, m.exporter[idx]),
        ("IMPORT", imp, m.importer[idx]),
        ("TRADE", money(exp_ + imp), np.ones(k, bool)),
    ):
        for suffix, values in five(level, alive).items():
            w.add(f"OPR_{name}_{suffix}", nan_unless(has, values))
    trade = exp_ + imp
    avg_declaration = np.exp(rng.normal(np.log(150_000), 0.5, k))[:, None]
    declarations = np.where(trade > 0, 1 + rng.poisson(trade / avg_declaration), 0).astype(float)
    w.add("OPR_CUSTOMS_DECLARATIONS_12M", trailing(declarations, 12))
    countries = 1 + rng.poisson(np.exp(0.5 * m.e.z[idx] + 1))
    drift = np.clip(
        countries[:, None] + rng.choice([-1, 0, 0, 0, 0, 1], (k, S)).cumsum(axis=1), 1, None
    )
    w.add("OPR_EXPORT_COUNTRIES", nan_unless(m.exporter[idx], drift.astype(float)))
    insured = m.exporter[idx] & (rng.random(k) < 0.3)
    cover = money(trailing(exp_, 12) * rng.uniform(0.3, 0.9, k)[:, None])
    w.add("FIN_EXPORT_CREDIT_INSURED", nan_unless(insured, cover))
    pen = h.customs
    w.add("NEG_CUSTOMS_PENALTIES_NEW", spread(idx, pen.entities, pen.new()))
    w.add("NEG_CUSTOMS_PENALTIES_36M", spread(idx, pen.entities, pen.window(36)))
    unreliable = pen.select(h.rng.random(len(pen.ent)) < 0.15)
    unreliable.dur[:] = 24
    flag = spread(pen.entities, unreliable.entities, (unreliable.active() > 0).astype(float))
    w.add("NEG_CUSTOMS_UNRELIABLE", spread(idx, pen.entities, np.nan_to_num(flag)))

    axis = m.cal.annual
    long = Long(m)
    present = alive[:, axis.sim]
    r, c = np.nonzero(present)
    g = m.cal.sim_start + axis.sim[c]
    ent = idx[r]
    z = m.e.z[ent]
    grade = np.where(z > 2.0, 0, np.where(z > 1.0, 1, 2))
    last = spread(idx, pen.entities, pen.window(24))
    bad = np.nan_to_num(last[r, [int(s) - 12 for s in axis.sim[c]]]) > 0
    grade = np.where(bad & (rng.random(len(r)) < 0.5), 3, grade)
    long.add_labels("OPR_CUSTOMS_CREDIT", ent, g, grade, CREDIT, form="Y")
    aeo = grade == 0
    long.add("POS_CUSTOMS_AEO", ent[aeo], g[aeo], np.ones(aeo.sum()), form="Y")
    brand = m.exporter[ent] & (rng.random(len(r)) < 0.01)
    long.add("POS_EXPORT_BRAND", ent[brand], g[brand], np.ones(brand.sum()), form="Y")
    risk = np.where(
        grade == 3, 2, np.where(grade == 2, rng.choice([0, 1], len(r), p=[0.8, 0.2]), 0)
    )
    long.add_labels("CRE_CUSTOMS_RISK", ent, g, risk, ("low", "medium", "high"), form="Y")
    return {
        "CUSTOMS/trade_monthly.csv": w.frame(MONTHLY),
        "CUSTOMS/credit_annual.csv": long.frame(),
    }
