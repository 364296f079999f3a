"""TAX financial statements: quarterly and annual (wide GBK CSV, ``YYYY-Qn`` / ``YYYY``).

Consistency kept: revenue follows the firm's sales; gross profit = revenue - cost; equity =
assets - liabilities; annual flows are the sums of the four quarters and annual stocks the
fourth quarter's; annual ratios are computed from the annual lines (and left out where
undefined or outside the catalog's range). Tax credit grades persist from year to year,
are M in a firm's first year and fall to C or D once a firm is in distress.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from puhui.ingest.generator.catalog import codes
from puhui.ingest.generator.feeds import nan_unless
from puhui.ingest.generator.feeds.taxpayers import Taxpayers
from puhui.ingest.generator.frames import Wide
from puhui.ingest.generator.model import Model, money, roll

ITEMS = (
    "TOTAL_ASSETS", "CURRENT_ASSETS", "CASH", "RECEIVABLES", "INVENTORY", "FIXED_ASSETS",
    "TOTAL_LIABILITIES", "CURRENT_LIABILITIES", "SHORT_LOANS", "LONG_LOANS", "PAYABLES",
    "EQUITY", "REVENUE", "OPERATING_COST", "GROSS_PROFIT", "OPERATING_PROFIT", "TOTAL_PROFIT",
    "NET_PROFIT", "SELLING_EXPENSE", "ADMIN_EXPENSE", "FINANCE_EXPENSE", "RD_EXPENSE",
    "OPERATING_CASH_FLOW", "INVESTING_CASH_FLOW", "FINANCING_CASH_FLOW", "PAYROLL",
    "TAXES_PAYABLE",
)  # fmt: skip
STOCKS = frozenset(ITEMS[:12]) | {"PAYROLL", "TAXES_PAYABLE"}
GRADES = ("A", "B", "M", "C", "D")
QUARTERLY = codes("TAX", "quarterly")
ANNUAL = codes("TAX", "annual")


def build(m: Model, t: Taxpayers, comp: dict[str, np.ndarray]) -> dict[str, pl.DataFrame]:
    """Quarterly and annual statements of enterprises (and cooperatives) that file them."""
    rng = m.rng("tax:statements")
    firms = ~t.is_i
    files = firms & (rng.random(t.k) < 0.9)
    sel = np.flatnonzero(firms)
    fidx = t.idx[sel]
    general = t.full[sel]
    filer = files[sel]
    q, qend = _quarters(m, t, sel, comp, rng)
    out = {"TAX/statements_quarterly.csv": _quarterly(m, fidx, q, qend, filer, rng)}
    out["TAX/statements_annual.csv"] = _annual(m, fidx, q, qend, filer, general, rng)
    return out


def _quarters(
    m: Model, t: Taxpayers, sel: np.ndarray, comp: dict[str, np.ndarray], rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every statement line at every simulated quarter end, ``(k, quarters)``."""
    fidx, k = t.idx[sel], len(sel)
    s = t.sales[sel]
    hc = t.hc[sel]
    S = m.S
    qend = np.array([j for j in range(S) if m.moy[j] % 3 == 2 and j >= 2])  # simulated quarter ends
    revenue = money(roll(s, 3)[:, qend] * rng.uniform(0.95, 1.05, (k, len(qend))))
    year_sales = roll(s, 12)[:, qend]
    gm = np.clip(
        rng.uniform(0.12, 0.35, k)[:, None] + rng.normal(0, 0.02, revenue.shape), -0.5, 0.9
    )
    cost = money(revenue * (1 - gm))
    gross = money(revenue - cost)
    selling = money(revenue * rng.uniform(0.02, 0.08, k)[:, None])
    admin = money(year_sales / 4 * rng.uniform(0.03, 0.10, k)[:, None])
    assets = money(np.maximum(year_sales, 1e4) / rng.uniform(0.6, 2.0, k)[:, None])
    debt_ratio = np.clip(
        rng.uniform(0.3, 0.75, k)[:, None] - 0.15 * m.distress.effect[fidx][:, qend], 0.05, 2.0
    )
    liabilities = money(assets * debt_ratio)
    long_loans = money(liabilities * rng.uniform(0.05, 0.4, k)[:, None])
    finance = money((long_loans + liabilities * 0.2) * 0.045 / 4)
    rd = money(
        revenue
        * np.where(m.manuf[fidx] | m.section_in("IM")[fidx], rng.uniform(0, 0.05, k), 0)[:, None]
    )
    taxes = comp["URBAN"][sel] + comp["SURCHARGE"][sel]
    op = money(gross - selling - admin - finance - rd - roll(taxes, 3)[:, qend])
    total_profit = money(op + revenue * rng.normal(0, 0.005, revenue.shape))
    cit_rate = np.where(m.small_micro[fidx], 0.05, 0.25)[:, None]
    net = money(total_profit - np.maximum(total_profit, 0) * cit_rate)
    current = money(assets * rng.uniform(0.45, 0.75, k)[:, None])
    cash = money(current * rng.uniform(0.1, 0.35, k)[:, None])
    receivables = money(current * rng.uniform(0.2, 0.45, k)[:, None])
    inventory = money(current * rng.uniform(0.1, 0.3, k)[:, None])
    fixed = money((assets - current) * rng.uniform(0.5, 0.9, k)[:, None])
    cur_liab = money(np.maximum(liabilities - long_loans, 0))
    ocf = money(net + fixed * 0.025 + revenue * rng.normal(0, 0.03, revenue.shape))
    icf = money(-fixed * rng.uniform(0, 0.05, revenue.shape))
    q = {
        "TOTAL_ASSETS": assets,
        "CURRENT_ASSETS": current,
        "CASH": cash,
        "RECEIVABLES": receivables,
        "INVENTORY": inventory,
        "FIXED_ASSETS": fixed,
        "TOTAL_LIABILITIES": liabilities,
        "CURRENT_LIABILITIES": cur_liab,
        "SHORT_LOANS": money(cur_liab * rng.uniform(0, 0.4, k)[:, None]),
        "LONG_LOANS": long_loans,
        "PAYABLES": money(cur_liab * rng.uniform(0.2, 0.5, k)[:, None]),
        "EQUITY": money(assets - liabilities),
        "REVENUE": revenue,
        "OPERATING_COST": cost,
        "GROSS_PROFIT": gross,
        "OPERATING_PROFIT": op,
        "TOTAL_PROFIT": total_profit,
        "NET_PROFIT": net,
        "SELLING_EXPENSE": selling,
        "ADMIN_EXPENSE": admin,
        "FINANCE_EXPENSE": finance,
        "RD_EXPENSE": rd,
        "OPERATING_CASH_FLOW": ocf,
        "INVESTING_CASH_FLOW": icf,
        "FINANCING_CASH_FLOW": money(-(ocf + icf) * rng.uniform(0.2, 0.8, revenue.shape)),
        "PAYROLL": money(hc[:, qend] * m.wage[fidx][:, None]),
        "TAXES_PAYABLE": money(comp["VAT"][sel][:, qend] + comp["CIT"][sel][:, qend]),
    }
    return q, qend


def _quarterly(
    m: Model,
    fidx: np.ndarray,
    q: dict[str, np.ndarray],
    qend: np.ndarray,
    filer: np.ndarray,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Reported quarters; rows for filers that exist at the quarter end."""
    cal, k = m.cal, len(fidx)
    qpos = np.searchsorted(qend, cal.quarterly.sim)
    alive_q = m.alive[fidx][:, cal.quarterly.sim] & filer[:, None]
    wq = Wide(m, fidx, cal.quarterly, alive_q)
    for item in ITEMS:
        wq.add(f"FIN_{item}_Q", q[item][:, qpos])
    q_end_day = (np.array(cal.quarterly.sim) + cal.sim_start - 1970 * 12 + 1).astype(
        "datetime64[M]"
    ).astype("datetime64[D]") - 1
    wq.add_dates("FIN_LAST_FILED", q_end_day[None, :] + rng.integers(10, 26, (k, len(qpos))))
    return wq.frame(QUARTERLY)


def _annual(
    m: Model,
    fidx: np.ndarray,
    q: dict[str, np.ndarray],
    qend: np.ndarray,
    filer: np.ndarray,
    general: np.ndarray,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Every firm registered with TAX alive at the year end; non-filers say "none"."""
    cal, k = m.cal, len(fidx)
    ypos = np.searchsorted(qend, cal.annual.sim)
    alive_y = m.alive[fidx][:, cal.annual.sim]
    wy = Wide(m, fidx, cal.annual, alive_y)
    year: dict[str, np.ndarray] = {}
    for item in ITEMS:
        quarters = np.stack([q[item][:, ypos - back] for back in range(4)])
        year[item] = q[item][:, ypos] if item in STOCKS else money(quarters.sum(axis=0))
        wy.add(f"FIN_{item}_Y", nan_unless(filer, year[item]))
    prev_rev = np.concatenate(
        [year["REVENUE"][:, :1] * np.exp(-rng.normal(0.04, 0.12, (k, 1))), year["REVENUE"][:, :-1]],
        axis=1,
    )
    prev_net = np.concatenate(
        [year["NET_PROFIT"][:, :1] * rng.uniform(0.6, 1.3, (k, 1)), year["NET_PROFIT"][:, :-1]],
        axis=1,
    )
    _ratios(wy, year, prev_rev, prev_net, filer)
    kind = np.where(~filer, 2, np.where(general & ~m.small_micro[fidx], 0, 1))
    wy.add_labels(
        "FIN_STATEMENT_TYPE",
        np.broadcast_to(kind[:, None], alive_y.shape),
        ("general", "small", "none"),
    )
    audited = (m.e.z[fidx] > 1.5) | (general & (rng.random(k) < 0.3))
    wy.add(
        "FIN_AUDITED",
        nan_unless(filer, np.broadcast_to(audited[:, None], alive_y.shape).astype(float)),
    )
    grades = _grades(m, fidx, rng)
    ranks = np.array([0, 1, 2, 3, 4])
    cur, prev1, prev2 = grades[:, 2:], grades[:, 1:-1], grades[:, :-2]
    wy.add_labels("OPR_TAX_CREDIT_GRADE", cur, GRADES)
    down = (ranks[cur] > ranks[prev1]) & (cur != 2) & (prev1 != 2)
    wy.add("OPR_TAX_GRADE_DOWNGRADED", down.astype(float))
    wy.add("POS_TAX_A_3Y", ((cur == 0) & (prev1 == 0) & (prev2 == 0)).astype(float))
    rd_firm = filer & (m.manuf[fidx] | m.section_in("IM")[fidx])
    wy.add("POS_RD_DEDUCTION", nan_unless(rd_firm, year["RD_EXPENSE"]))
    risk = np.where(cur >= 3, 2, np.where((cur == 1) & (rng.random(cur.shape) < 0.2), 1, 0))
    wy.add_labels("CRE_TAX_RISK_GRADE", risk, ("low", "medium", "high"))
    return wy.frame(ANNUAL)


def _ratios(
    wy: Wide,
    y: dict[str, np.ndarray],
    prev_rev: np.ndarray,
    prev_net: np.ndarray,
    filer: np.ndarray,
) -> None:
    """Annual ratios from the annual lines; undefined or out-of-range ratios are left out."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = {
            "DEBT_RATIO": y["TOTAL_LIABILITIES"] / y["TOTAL_ASSETS"],
            "CURRENT_RATIO": y["CURRENT_ASSETS"] / y["CURRENT_LIABILITIES"],
            "QUICK_RATIO": (y["CURRENT_ASSETS"] - y["INVENTORY"]) / y["CURRENT_LIABILITIES"],
            "GROSS_MARGIN": y["GROSS_PROFIT"] / y["REVENUE"],
            "NET_MARGIN": y["NET_PROFIT"] / y["REVENUE"],
            "ROE": np.where(y["EQUITY"] > 0, y["NET_PROFIT"] / y["EQUITY"], np.nan),
            "ROA": y["NET_PROFIT"] / y["TOTAL_ASSETS"],
            "RECEIVABLE_TURNOVER": y["REVENUE"] / y["RECEIVABLES"],
            "INVENTORY_TURNOVER": y["OPERATING_COST"] / y["INVENTORY"],
            "ASSET_TURNOVER": y["REVENUE"] / y["TOTAL_ASSETS"],
            "REVENUE_GROWTH": y["REVENUE"] / prev_rev - 1,
            "PROFIT_GROWTH": (y["NET_PROFIT"] - prev_net) / np.abs(prev_net),
            "INTEREST_COVERAGE": (y["TOTAL_PROFIT"] + y["FINANCE_EXPENSE"]) / y["FINANCE_EXPENSE"],
            "RD_INTENSITY": y["RD_EXPENSE"] / y["REVENUE"],
            "CASH_TO_DEBT": y["OPERATING_CASH_FLOW"] / y["CURRENT_LIABILITIES"],
            "EQUITY_RATIO": y["TOTAL_LIABILITIES"] / y["EQUITY"],
        }
    catalog = wy.catalog
    for name, value in ratios.items():
        ind = catalog[f"FIN_{name}"]
        v = np.round(np.where(np.isfinite(value), value, np.nan), 4)
        v = np.where((v >= ind.min_value) & (v <= ind.max_value), v, np.nan)  # type: ignore[operator]
        wy.add(f"FIN_{name}", nan_unless(filer, v))


def _grades(m: Model, fidx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Tax credit grade index (into GRADES) for the two years before each reported year and
    the reported years: a persistent score, M for firms in their first year, C/D once in
    distress."""
    years = m.cal.annual.sim
    ends = (
        np.concatenate([years[:1] - 24, years[:1] - 12, years])
        if len(years)
        else np.array([], dtype=int)
    )
    k = len(fidx)
    score = (
        0.8 * m.e.z[fidx][:, None] + rng.normal(0, 1, (k, 1)) + rng.normal(0, 0.3, (k, len(ends)))
    )
    grade = np.select([score > 1.4, score > -1.2, score > -2.0], [0, 1, 3], 4)
    g_end = m.cal.sim_start + ends
    new = m.e.est_g[fidx][:, None] > g_end[None, :] - 12
    grade = np.where(new, 2, grade)
    onset = m.distress.onset[fidx][:, None]
    grade = np.where((onset >= 0) & (onset + 3 <= ends[None, :]), np.maximum(grade, 3), grade)
    return grade
