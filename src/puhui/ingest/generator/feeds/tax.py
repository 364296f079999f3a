"""TAX: monthly taxes and invoices (Parquet wide), financial statements (GBK CSV, see
``statements``) and events (CSV).

Consistency kept: total tax = the sum of the taxes reported for the entity; 3M/12M are
sums of the rounded month values and YoY/MoM are computed from them; urban maintenance tax
and education surcharge are 7 % (5 % in counties) and 3 % of VAT; small-scale taxpayers pay
VAT quarterly (1 %, exempt up to 300,000 a quarter); corporate income tax is prepaid
quarterly; property and land-use tax are paid half-yearly.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from puhui.ingest.generator import words
from puhui.ingest.generator.calendar import WARMUP
from puhui.ingest.generator.catalog import codes
from puhui.ingest.generator.events import Histories
from puhui.ingest.generator.feeds import FileSpec, five, nan_unless, spread, statements
from puhui.ingest.generator.feeds.taxpayers import Taxpayers
from puhui.ingest.generator.frames import Long, Wide
from puhui.ingest.generator.model import Model, lag, money, roll, roll_max, trailing

TAXES = ("TOTAL", "VAT", "CIT", "IIT", "CONSUMPTION", "STAMP", "URBAN", "PROPERTY", "LAND_USE",
         "SURCHARGE")  # fmt: skip
MONTHLY = codes("TAX", "monthly")

FILES = (
    FileSpec("TAX/tax_monthly.parquet", "TAX", "parquet", None, "wide", MONTHLY,
             dirt=("invalid_uscc", "out_of_range", "duplicate_row")),
    FileSpec("TAX/statements_quarterly.csv", "TAX", "csv", "gbk", "wide", statements.QUARTERLY,
             dirt=("wrong_type", "bad_period")),
    FileSpec("TAX/statements_annual.csv", "TAX", "csv", "gbk", "wide", statements.ANNUAL,
             dirt=("bad_grade", "out_of_range")),
    FileSpec("TAX/events.csv", "TAX", "csv", "utf-8", "long",
             ("OPR_TAX_GENERAL_PAYER", "NEG_ARREARS_LAST"), dirt=("unknown_uscc",)),
)  # fmt: skip


def build(m: Model, h: Histories) -> dict[str, pl.DataFrame]:
    t = Taxpayers.of(m)
    rng = m.rng("tax")
    w = Wide(m, t.idx, m.cal.monthly)
    comp, tax12 = _taxes(m, t, w, rng)
    inv_sales = _invoices(t, w, rng)
    _compliance(m, h, t, w, comp, tax12, inv_sales, rng)
    out = {"TAX/tax_monthly.parquet": w.frame(MONTHLY)}
    out.update(statements.build(m, t, comp))
    out["TAX/events.csv"] = _events(m, h, t)
    return out


def _taxes(
    m: Model, t: Taxpayers, w: Wide, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each tax per simulated month (0 where not reported), and the reported 12-month sums."""
    k, full, is_e, sales = t.k, t.full, t.is_e, t.sales
    tiers = {
        "TOTAL": np.ones(k, bool), "VAT": np.ones(k, bool), "CIT": is_e, "IIT": full & is_e,
        "STAMP": full & is_e, "URBAN": full, "SURCHARGE": full,
        "CONSUMPTION": full & is_e & m.section_in("CF")[t.idx] & (rng.random(k) < 0.01),
        "PROPERTY": full & is_e, "LAND_USE": full & is_e,
    }  # fmt: skip
    quarter_month = np.isin(m.moy, [0, 3, 6, 9])[None, :]
    prev_q = lag(roll(sales, 3), 1, 0.0)
    vat_rate = rng.uniform(0.015, 0.045, k)[:, None]
    small_vat = np.where(quarter_month & (prev_q > 3e5), 0.01 * prev_q, 0.0)
    comp: dict[str, np.ndarray] = {
        "VAT": money(np.where(full[:, None], sales * vat_rate, small_vat))
    }
    urban = np.array([d[3] for d in words.DISTRICTS])[m.e.district[t.idx]]
    comp["URBAN"] = money(comp["VAT"] * np.where(urban, 0.07, 0.05)[:, None])
    comp["SURCHARGE"] = money(comp["VAT"] * 0.03)
    margin = np.clip(rng.normal(0.06, 0.05, k), -0.1, 0.3)[:, None] + 0.3 * m.distress.effect[t.idx]
    cit_rate = np.where(m.small_micro[t.idx], 0.05, 0.25)[:, None]
    comp["CIT"] = money(np.where(quarter_month, np.maximum(cit_rate * margin * prev_q, 0), 0))
    iit_rate = np.minimum(np.exp(rng.normal(np.log(0.012), 0.5, k)), 0.08)[:, None]
    comp["IIT"] = money(t.hc * m.wage[t.idx][:, None] * iit_rate)
    comp["STAMP"] = money(sales * 0.0003 * 1.7)
    comp["CONSUMPTION"] = money(sales * 0.05)
    re_value = m.holdings.value[t.idx, :5].sum(axis=1)
    land = m.holdings.area[t.idx, 5:7].sum(axis=1)
    tiers["PROPERTY"] &= re_value > 0
    tiers["LAND_USE"] &= land > 0
    half_year = np.isin(m.moy, [3, 9])[None, :]
    comp["PROPERTY"] = money(np.where(half_year, re_value[:, None] * 0.7 * 0.012 / 2, 0))
    land_rate = rng.uniform(3, 8, k)[:, None]
    comp["LAND_USE"] = money(np.where(half_year, land[:, None] * land_rate / 2, 0))
    for key, value in comp.items():
        comp[key] = np.where(t.alive & tiers[key][:, None], value, 0.0)
    comp["TOTAL"] = money(np.sum(list(comp.values()), axis=0))
    tax12: dict[str, np.ndarray] = {}
    for tax in TAXES:
        parts = five(comp[tax], t.alive)
        tax12[tax] = parts["12M"]
        for suffix, values in parts.items():
            w.add(f"OPR_TAX_{tax}_{suffix}", nan_unless(tiers[tax], values))
    return comp, tax12


def _invoices(t: Taxpayers, w: Wide, rng: np.random.Generator) -> np.ndarray:
    """Invoice families and partner shares; returns invoiced sales per simulated month."""
    k, S, full, is_e, sales = t.k, t.sales.shape[1], t.full, t.is_e, t.sales
    invoicing = ~t.lean | (rng.random(k) < 0.3)
    tiers = {
        "SALES": invoicing, "PURCHASES": full, "COUNT": full, "CUSTOMERS": full,
        "SUPPLIERS": full, "VOIDED": full & (rng.random(k) < 0.4),
        "RED": full & (rng.random(k) < 0.3),
    }  # fmt: skip
    share = np.select(
        [is_e, t.is_i],
        [rng.uniform(0.85, 1.0, k), rng.uniform(0.3, 0.8, k)],
        rng.uniform(0.5, 0.9, k),
    )
    inv_sales = money(sales * share[:, None])
    noise = np.exp(rng.normal(0, 0.1, (k, S)))
    purchases = money(sales * rng.uniform(0.55, 0.9, k)[:, None] * noise)
    avg = np.exp(rng.normal(np.where(is_e, np.log(8000), np.log(600)), 0.6))[:, None]
    count = np.where(inv_sales > 0, np.ceil(inv_sales / avg), 0)
    per_customer = rng.uniform(0.1, 0.6, k)[:, None]
    customers = np.where(count > 0, np.clip(np.round(count * per_customer), 1, count), 0)
    per_supplier = rng.uniform(0.3, 1.2, k)[:, None]
    suppliers = np.where(purchases > 0, np.maximum(1, np.round(customers * per_supplier)), 0)
    voided = np.where(rng.random((k, S)) < 0.3, inv_sales * rng.uniform(0.002, 0.02, (k, S)), 0)
    red = np.where(rng.random((k, S)) < 0.25, inv_sales * rng.uniform(0.002, 0.03, (k, S)), 0)
    families = {
        "SALES": inv_sales, "PURCHASES": purchases, "COUNT": count, "CUSTOMERS": customers,
        "SUPPLIERS": suppliers, "VOIDED": money(voided), "RED": money(red),
    }  # fmt: skip
    for name, level in families.items():
        parts = five(level, t.alive, counts=name in ("COUNT", "CUSTOMERS", "SUPPLIERS"))
        if name in ("CUSTOMERS", "SUPPLIERS"):  # distinct partners over a window, not a sum
            whole = np.where(t.alive, np.round(level), 0.0)
            for window, key in ((3, "3M"), (12, "12M")):
                top = roll_max(whole, window)[:, WARMUP:]
                parts[key] = np.round(top + 0.4 * (parts[key] - top))
        for suffix, values in parts.items():
            w.add(f"OPR_INV_{name}_{suffix}", nan_unless(tiers[name], values))
    inverse = 1 / np.maximum(customers, 1)
    top1 = np.clip(rng.beta(2, 5, (k, 1)) + inverse + rng.normal(0, 0.02, (k, S)), 0, 1)
    top1 = np.where(customers <= 1, 1.0, np.maximum(top1, inverse))
    top5 = np.where(
        customers <= 5, 1.0, np.minimum(1, top1 + (1 - top1) * rng.uniform(0.3, 0.9, (k, 1)))
    )
    sup1 = np.clip(
        rng.beta(2, 4, (k, 1)) + rng.normal(0, 0.02, (k, S)), 1 / np.maximum(suppliers, 1), 1
    )
    sup1 = np.where(suppliers <= 1, 1.0, sup1)
    local = np.clip(rng.beta(2, 2, (k, 1)) + rng.normal(0, 0.03, (k, S)), 0, 1)
    selling = full[:, None] & (inv_sales > 0)
    w.add("OPR_INV_TOP_CUSTOMER_SHARE", np.where(selling, top1, np.nan))
    w.add("OPR_INV_TOP5_CUSTOMER_SHARE", np.where(selling, top5, np.nan))
    w.add("OPR_INV_TOP_SUPPLIER_SHARE", np.where(full[:, None] & (purchases > 0), sup1, np.nan))
    w.add("OPR_INV_LOCAL_SHARE", np.where(selling, local, np.nan))
    return inv_sales


def _compliance(
    m: Model, h: Histories, t: Taxpayers, w: Wide, comp: dict[str, np.ndarray],
    tax12: dict[str, np.ndarray], inv_sales: np.ndarray, rng: np.random.Generator,
) -> None:  # fmt: skip
    """Per-employee figures, tax burden, arrears, filing record, relief and tax records."""
    k, S, full, idx = t.k, m.S, t.full, t.idx
    staff = t.hc[:, WARMUP:]
    sales12 = money(trailing(np.where(t.alive, inv_sales, 0), 12))
    with np.errstate(divide="ignore", invalid="ignore"):
        per_head = np.where(staff > 0, tax12["TOTAL"] / staff, np.nan)
        sales_per_head = np.where(staff > 0, sales12 / staff, np.nan)
        burden = np.where(full[:, None] & (sales12 > 0), tax12["TOTAL"] / sales12, np.nan)
    w.add("OPR_TAX_PER_EMPLOYEE", nan_unless(full, per_head))
    w.add("OPR_SALES_PER_EMPLOYEE", nan_unless(full, sales_per_head))
    w.add("OPR_TAX_BURDEN", np.where(burden <= 10, burden, np.nan))
    # arrears: half the tax of the six months before the onset goes unpaid from month 2 on
    ds = m.distress
    distressed = ds.flag[idx]
    since = np.arange(S)[None, :] - ds.onset[idx][:, None]
    before = (since < 0) & (since >= -6)
    usual = np.where(before, comp["TOTAL"], 0).sum(axis=1, keepdims=True) / 6
    arrears = np.where(distressed[:, None] & (since >= 2), usual * 0.5 * (since - 1), 0.0)
    w.add("OPR_TAX_ARREARS", nan_unless(distressed, money(arrears)))
    late_p = np.where(distressed[:, None] & (since >= 0), 0.35, 0.01)
    late = trailing(((rng.random((k, S)) < late_p) & t.alive).astype(float), 12)
    w.add("OPR_TAX_LATE_FILINGS_12M", nan_unless(full, late))
    paid = ((comp["TOTAL"] > 0) & t.alive).astype(float)
    w.add("OPR_TAX_MONTHS_PAID_12M", trailing(paid, 12))
    rebate_share = np.where(m.manuf[idx], 0.8, 0.5)[:, None]
    rebate = money(trailing(m.exports[idx], 12) * 0.09 * rebate_share)
    w.add("OPR_EXPORT_TAX_REBATE_12M", nan_unless(m.exporter[idx], rebate))
    relieved = (m.small_micro[idx] | t.is_i) & (rng.random(k) < 0.7)
    relief_rate = rng.uniform(0.002, 0.008, k)[:, None]
    relief = money(trailing(np.where(t.alive, t.sales * relief_rate, 0), 12))
    w.add("POS_TAX_RELIEF_12M", nan_unless(relieved, relief))
    pen = h.tax_penalty
    w.add("NEG_TAX_PENALTIES_36M", spread(idx, pen.entities, pen.window(36)))
    major = pen.select(pen.amount >= 0)
    major.dur = np.where(h.rng.random(len(major.ent)) < 0.1, 36, 0)
    listed = (major.active() > 0).astype(float)
    w.add("NEG_TAX_MAJOR_VIOLATION", spread(idx, major.entities, listed))
    ab = h.tax_abnormal
    w.add("NEG_TAX_ABNORMAL_12M", spread(idx, ab.entities, ab.window(12)))
    w.add("NEG_TAX_ABNORMAL", spread(idx, ab.entities, (ab.active() > 0).astype(float)))
    arr = h.arrears
    for window in (6, 12, 24, 60):
        w.add(f"NEG_ARREARS_{window}M", spread(idx, arr.entities, arr.window(window)))


def _events(m: Model, h: Histories, t: Taxpayers) -> pl.DataFrame:
    """Registration as a general VAT payer (the month it happened) and latest arrears dates."""
    rng = m.rng("tax:events")
    long = Long(m)
    gp = t.idx[t.general_all[t.idx]]
    when = np.minimum(m.e.est_g[gp] + rng.integers(0, 37, len(gp)), m.cal.end)
    when = np.minimum(np.maximum(when, m.e.est_g[gp]), m.e.exit_g[gp] - 1)
    long.add("OPR_TAX_GENERAL_PAYER", gp, when, np.ones(len(gp)))
    ent, g, d = h.arrears.last_rows(m.cal.end)
    long.add_dates("NEG_ARREARS_LAST", ent, g, d)
    return long.frame()
