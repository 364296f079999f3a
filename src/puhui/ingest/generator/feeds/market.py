"""SAMR beyond the registry: profile facts and events (long CSV), annual reports (wide
CSV with BOM, ``YYYY``), quarterly registrations (long, ``YYYY-Qn``) and monthly lists and
penalties (long, non-zero values only).

The registry columns carry BAS_NAME, BAS_ENTITY_TYPE, BAS_DISTRICT, BAS_INDUSTRY_SECTION,
BAS_INDUSTRY_DIVISION, BAS_REG_CAPITAL, BAS_ESTABLISHED, BAS_STATUS (current),
BAS_LEGAL_REP_NAME and BAS_LEGAL_REP_ID; they are not repeated here. Static facts are dated
``end_period``; event facts the month they last changed (often years back).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from puhui.ingest.generator import words
from puhui.ingest.generator.catalog import codes
from puhui.ingest.generator.events import Histories, Records
from puhui.ingest.generator.feeds import FileSpec
from puhui.ingest.generator.feeds.legal import add_last, add_records
from puhui.ingest.generator.frames import Long, Wide
from puhui.ingest.generator.model import Model, money, sigmoid
from puhui.ingest.generator.registry import STATUS_NAMES

REGISTRY_CODES = (
    "BAS_NAME",
    "BAS_ENTITY_TYPE",
    "BAS_DISTRICT",
    "BAS_INDUSTRY_SECTION",
    "BAS_INDUSTRY_DIVISION",
    "BAS_REG_CAPITAL",
    "BAS_ESTABLISHED",
    "BAS_STATUS",
    "BAS_LEGAL_REP_NAME",
    "BAS_LEGAL_REP_ID",
)
PROFILE = (*(c for c in codes("SAMR", "static", "event") if c not in REGISTRY_CODES), "BAS_STATUS")
ANNUAL = codes("SAMR", "annual")
QUARTERLY = codes("SAMR", "quarterly")
MONTHLY = codes("SAMR", "monthly")

FILES = (
    FileSpec("SAMR/profile.csv", "SAMR", "csv", "gbk", "long", PROFILE, dirt=("duplicate_row",)),
    FileSpec(
        "SAMR/annual_reports.csv",
        "SAMR",
        "csv",
        "utf-8-sig",
        "wide",
        ANNUAL,
        dirt=("bad_period", "bad_grade", "wrong_type"),
    ),
    FileSpec("SAMR/quarterly.csv", "SAMR", "csv", "utf-8", "long", QUARTERLY, dirt=("bad_period",)),
    FileSpec(
        "SAMR/monthly.csv",
        "SAMR",
        "csv",
        "utf-8",
        "long",
        MONTHLY,
        dirt=("invalid_uscc", "unknown_indicator", "out_of_range"),
    ),
)


def build(m: Model, h: Histories) -> dict[str, pl.DataFrame]:
    return {
        "SAMR/profile.csv": _profile(m, h),
        "SAMR/annual_reports.csv": _annual(m),
        "SAMR/quarterly.csv": _quarterly(m),
        "SAMR/monthly.csv": _monthly(m, h),
    }


def _gather(table: list[str] | tuple[str, ...], index: np.ndarray) -> pl.Series:
    return pl.Series(list(table), dtype=pl.Utf8).gather(
        pl.Series(np.asarray(index, dtype=np.uint32))
    )


def _profile(m: Model, h: Histories) -> pl.DataFrame:
    rng = m.rng("samr:profile")
    long = Long(m)
    ents = np.flatnonzero(m.alive[:, -1])  # entities that exist at the end
    _static(m, long, ents, rng)
    _events(m, h, long, ents, rng)
    return long.frame()


def _static(m: Model, long: Long, ents: np.ndarray, rng: np.random.Generator) -> None:
    """Static facts, dated ``end_period``."""
    e = m.e
    end = np.full(len(ents), m.cal.end)
    d = e.district[ents]
    places = _gather([x[1] for x in words.DISTRICTS], d)
    town_names = [t for code, _, _, _ in words.DISTRICTS for t in words.TOWNS[code]]
    offsets = np.cumsum([0] + [len(words.TOWNS[x[0]]) for x in words.DISTRICTS])[:-1]
    towns = _gather(town_names, offsets[d] + e.town[ents])
    roads = _gather(words.ROADS, rng.integers(0, len(words.ROADS), len(ents)))
    numbers = pl.Series(rng.integers(1, 999, len(ents))).cast(pl.Utf8)
    address = pl.select(
        pl.concat_str([pl.lit("浙江省宁波市"), places, towns, roads, numbers, pl.lit("号")])
    ).to_series()
    long.add_text("BAS_ADDRESS", ents, end, address)
    industry_names = _gather([row[2] for row in words.INDUSTRIES], e.industry[ents])
    extra = pl.Series(np.where(m.is_e[ents], "；技术服务、技术开发、技术咨询；货物进出口", ""))
    scope = pl.select(
        pl.concat_str([pl.lit("一般项目："), industry_names, extra, pl.lit(words.SCOPE_TAIL)])
    ).to_series()
    long.add_text("BAS_SCOPE", ents, end, scope)
    joint = np.array(["股份" in e.name[i] for i in ents])
    form = np.select(
        [m.is_i[ents], m.is_c[ents], joint],
        [4, 5, 1],
        rng.choice([0, 2, 3], len(ents), p=[0.96, 0.02, 0.02]),
    )
    long.add_labels(
        "BAS_ORG_FORM",
        ents,
        end,
        form,
        ("llc", "joint_stock", "partnership", "sole_proprietorship", "individual", "cooperative"),
    )
    firms = ents[m.is_e[ents]]
    fend = np.full(len(firms), m.cal.end)
    foreign = rng.random(len(firms)) < 0.03
    long.add("BAS_FOREIGN_INVESTED", firms, fend, foreign.astype(float))
    long.add("BAS_STATE_OWNED", firms, fend, (rng.random(len(firms)) < 0.01).astype(float))
    mobiles = pl.Series(
        rng.choice([13, 15, 17, 18, 19], len(ents)) * 10**9 + rng.integers(0, 10**9, len(ents))
    ).cast(pl.Utf8)
    has_mobile = ~m.is_c[ents]
    long.add_text(
        "BAS_CONTACT_MOBILE",
        ents[has_mobile],
        end[has_mobile],
        mobiles.filter(pl.Series(has_mobile)),
    )
    city_level = np.isin(e.district[ents], [6, 7, 8, 9])
    authority = pl.select(
        pl.concat_str(
            [pl.Series(np.where(city_level, "", "宁波市")), places, pl.lit("市场监督管理局")]
        )
    ).to_series()
    big = (e.capital[ents] >= 1e8) & m.is_e[ents]
    authority = pl.Series(np.where(big, "宁波市市场监督管理局", authority.to_numpy()))
    long.add_text("BAS_REG_AUTHORITY", ents, end, authority)
    term_years = rng.choice([0, 20, 30, 50], len(firms), p=[0.4, 0.2, 0.3, 0.1])
    term = e.established[firms] + (term_years * 365.25).astype(np.int64)
    long.add_dates(
        "BAS_TERM_END", firms[term_years > 0], fend[term_years > 0], term[term_years > 0]
    )
    currency = np.zeros(len(ents), dtype=np.int64)
    fpos = np.searchsorted(ents, firms[foreign])
    currency[fpos] = rng.choice([1, 2, 3, 4], len(fpos), p=[0.5, 0.3, 0.1, 0.1])
    long.add_labels(
        "BAS_CAPITAL_CURRENCY", ents, end, currency, ("CNY", "USD", "EUR", "HKD", "JPY", "other")
    )
    long.add("BAS_HQ_IN_CITY", firms, fend, (rng.random(len(firms)) < 0.97).astype(float))
    long.add("BAS_BRANCH_OF_OTHER", firms, fend, (rng.random(len(firms)) < 0.01).astype(float))


def _events(m: Model, h: Histories, long: Long, ents: np.ndarray, rng: np.random.Generator) -> None:
    """Status changes in the window, and counts dated by the month they last changed."""
    e, n = m.e, m.n
    firms = ents[m.is_e[ents]]
    exited = np.flatnonzero((e.exit_g >= m.cal.first) & (e.exit_g <= m.cal.end))
    long.add_labels("BAS_STATUS", exited, e.exit_g[exited], e.status[exited], STATUS_NAMES)
    ch = h.changes
    last_change = np.full(n, -1)
    np.maximum.at(last_change, ch.ent, m.cal.end - h.H + 1 + ch.h)
    dated = np.maximum(last_change, e.est_g)
    long.add_dates("BAS_APPROVED_DATE", ents, dated[ents], _last_dates(ch, m, e.established)[ents])
    z = e.z[firms]
    long.add("BAS_SHAREHOLDERS", firms, dated[firms], 1 + rng.poisson(np.exp(0.2 + 0.4 * z)))
    long.add("BAS_SENIOR_MANAGERS", firms, dated[firms], 1 + rng.poisson(np.exp(0.3 + 0.4 * z)))
    for code, p, lam in (
        ("BAS_BRANCHES", 0.05, 1.0),
        ("BAS_INVESTEES", 0.10, 1.5),
        ("BAS_LEGAL_REP_OTHER_ROLES", 0.3, 0.8),
    ):
        sel = firms[rng.random(len(firms)) < p * sigmoid(z + 1) * 1.4]
        long.add(code, sel, dated[sel], 1 + rng.poisson(lam, len(sel)))
    listed = firms[(z > 2.5) & (rng.random(len(firms)) < 0.05)]
    long.add("BAS_LISTED", listed, dated[listed], np.ones(len(listed)))
    for code, tag in (
        ("BAS_SCOPE_CHANGES", 1),
        ("BAS_ADDRESS_CHANGES", 2),
        ("BAS_CAPITAL_CHANGES", 3),
        ("BAS_CONTROLLER_CHANGES", 5),
    ):
        sub = ch.select(ch.dur == tag)
        cnt = np.bincount(sub.ent, minlength=n)
        last = np.full(n, -1)
        np.maximum.at(last, sub.ent, m.cal.end - h.H + 1 + sub.h)
        sel = np.flatnonzero((cnt > 0) & (last < e.exit_g))
        long.add(code, sel, last[sel], cnt[sel].astype(float))
    licensed = ents[rng.random(len(ents)) < np.where(m.is_e[ents], 0.3, 0.4)]
    long.add(
        "OPR_LICENCES", licensed, _after_est(m, rng, licensed), 1 + rng.poisson(0.5, len(licensed))
    )
    makers = ents[m.manuf[ents] & (rng.random(len(ents)) < 0.2)]
    long.add(
        "OPR_PRODUCT_CERTIFICATES",
        makers,
        _after_est(m, rng, makers),
        1 + rng.poisson(2, len(makers)),
    )
    food = ents[
        (m.section_in("H")[ents] | m.division_in("52")[ents]) & (rng.random(len(ents)) < 0.6)
    ]
    long.add("OPR_FOOD_LICENCES", food, _after_est(m, rng, food), np.ones(len(food)))
    add_last(long, "NEG_PENALTY_LAST", h.penalty)
    add_last(long, "NEG_ABNORMAL_LAST", h.abnormal)
    add_last(long, "NEG_COMPLAINT_LAST", h.complaint)


def _last_dates(ch: Records, m: Model, fallback: np.ndarray) -> np.ndarray:
    """Date of each entity's latest registration change, else its establishment date."""
    out = fallback.copy()
    if len(ch.ent):
        d = ch.dates(m.cal.end)
        order = np.lexsort((d, ch.ent))
        out[ch.ent[order]] = d[order]  # the last write per entity is its latest date
    return out


def _after_est(m: Model, rng: np.random.Generator, ents: np.ndarray) -> np.ndarray:
    g = m.e.est_g[ents] + rng.integers(0, 25, len(ents))
    return np.asarray(np.minimum(g, np.minimum(m.cal.end, m.e.exit_g[ents] - 1)))


def _annual(m: Model) -> pl.DataFrame:
    rng = m.rng("samr:annual")
    e, axis = m.e, m.cal.annual
    ys = axis.sim
    g_dec = m.cal.sim_start + ys
    filed = (
        m.alive[:, ys]
        & (e.est_g[:, None] < g_dec[None, :])
        & (rng.random((m.n, 1)) < np.where(m.is_i, 0.6, 0.95)[:, None])
    )
    idx = np.flatnonzero(filed.any(axis=1))
    present = filed[idx]
    k, Y = len(idx), len(ys)
    firm = ~m.is_i[idx]
    w = Wide(m, idx, axis, present)
    paid_share = np.where(rng.random(k) < 0.4, 0.0, rng.uniform(0.1, 1.0, k))
    w.add("BAS_PAID_CAPITAL", np.where(firm, np.round(e.capital[idx] * paid_share, -3), np.nan))
    year_end = (g_dec - 1970 * 12 + 1).astype("datetime64[M]").astype("datetime64[D]") - 1
    age = (year_end[None, :] - e.established[idx][:, None]).astype(float) / 365.25
    w.add("BAS_AGE_YEARS", np.round(age, 2))
    w.add("BAS_SMALL_MICRO", np.where(m.is_e[idx], m.small_micro[idx], np.nan).astype(float))
    on_time = rng.random((k, Y)) < 0.9
    due = year_end[None, :] + 1  # 1 January of the next year
    filed_on = due + np.where(on_time, rng.integers(0, 181, (k, Y)), rng.integers(181, 365, (k, Y)))
    last_day = (np.datetime64(m.cal.end_label, "M") + 1).astype("datetime64[D]") - 1
    filed_on = np.where(filed_on <= last_day, filed_on, np.datetime64("NaT"))
    w.add_dates("BAS_ANNUAL_REPORT_DATE", filed_on)
    w.add("BAS_ANNUAL_REPORT_ON_TIME", np.where(np.isnat(filed_on), np.nan, on_time.astype(float)))
    hc = m.headcount[idx][:, ys].astype(float)
    w.add("BAS_INSURED_INITIAL", np.where(firm[:, None], hc, np.nan))
    w.add(
        "BAS_PARTY_ORG",
        np.where(
            m.is_e[idx][:, None], ((hc >= 50) & (rng.random((k, 1)) < 0.6)).astype(float), np.nan
        ),
    )
    w.add("BAS_WEBSITE", np.where(m.is_e[idx], (rng.random(k) < 0.15).astype(float), np.nan))
    employees = np.maximum(np.round(hc * rng.uniform(1.0, 1.3, (k, 1))), 1)
    w.add("BAS_AR_EMPLOYEES", employees)
    w.add(
        "BAS_AR_FEMALE_EMPLOYEES",
        np.where(firm[:, None], np.round(employees * rng.uniform(0.2, 0.6, (k, 1))), np.nan),
    )
    year_sales = np.stack([m.sales[idx][:, y - 11 : y + 1].sum(axis=1) for y in ys], axis=1)
    revenue = money(year_sales * rng.uniform(0.9, 1.05, (k, 1)))
    assets = money(np.maximum(revenue, 1e4) / rng.uniform(0.6, 2.0, (k, 1)))
    liabilities = money(assets * rng.uniform(0.2, 0.8, (k, 1)))
    profit = money(revenue * rng.normal(0.05, 0.06, (k, Y)))
    net = money(profit - np.maximum(profit, 0) * 0.1)
    report = {
        "ASSETS": assets,
        "REVENUE": revenue,
        "PROFIT": np.where(profit >= 0, profit, np.nan),
        "TAX": money(revenue * rng.uniform(0.005, 0.04, (k, 1))),
        "LIABILITIES": liabilities,
        "MAIN_REVENUE": money(revenue * rng.uniform(0.85, 1.0, (k, 1))),
        "NET_PROFIT": np.where(net >= 0, net, np.nan),
        "EQUITY": money(assets - liabilities),
    }
    for item, values in report.items():
        w.add(
            f"BAS_AR_{item}",
            values if item in ("REVENUE", "TAX") else np.where(firm[:, None], values, np.nan),
        )
    manuf = m.manuf[idx]
    for code, p in (
        ("POS_QUALITY_AWARD", np.where(manuf, 0.002, 0)),
        ("POS_FAMOUS_BRAND", np.where(manuf, 0.01, 0)),
        ("POS_OLD_BRAND", np.where(age[:, 0] > 30, 0.01, 0)),
        ("POS_AAA_CONTRACT", np.where(firm, 0.02, 0)),
    ):
        w.add(code, np.where(rng.random(k) < p * sigmoid(m.e.z[idx] + 1) * 1.5, 1.0, np.nan))
    setter = manuf & (rng.random(k) < 0.008 * np.exp(m.e.z[idx]))
    w.add("POS_STANDARD_SETTER", np.where(setter, 1.0, np.nan))
    w.add("POS_STANDARDS", np.where(setter, 1 + rng.poisson(1.5, k), np.nan))
    w.add(
        "POS_QUALITY_CERTS",
        np.where(manuf & (rng.random(k) < 0.3), 1 + rng.poisson(0.8, k), np.nan),
    )
    grade = rng.choice([0, 1, 2, 3], (k, Y), p=[0.6, 0.32, 0.07, 0.01])
    w.add_labels("CRE_MARKET_GRADE", grade, ("A", "B", "C", "D"))
    w.add_labels(
        "CRE_SUPERVISION_CLASS",
        np.where(firm[:, None], np.minimum(grade, 2), -1),
        ("low", "general", "high"),
    )
    return w.frame(ANNUAL)


def _quarterly(m: Model) -> pl.DataFrame:
    rng = m.rng("samr:quarterly")
    axis = m.cal.quarterly
    long = Long(m)
    e = m.e
    P = len(axis)
    specs = (
        (
            "PRP_VEHICLES",
            np.where(m.section_in("G"), 0.9, np.where(m.is_e, 0.3, 0.05)),
            np.where(m.section_in("G"), 5.0, 1.0),
        ),
        ("PRP_VESSELS", np.where(m.division_in("55", "04"), 0.5, 0.0), 1.0),
        (
            "PRP_EQUIPMENT",
            np.where(m.manuf & ~m.is_i, 0.6, np.where(m.section_in("H") & m.is_e, 0.3, 0.0)),
            2.0,
        ),
        ("OPR_ONLINE_SHOPS", np.where(m.division_in("52"), 0.3, 0.02), 0.5),
    )
    for code, p, scale in specs:
        idx = np.flatnonzero(m.flags("samr:" + code, p) & m.reported)
        k = len(idx)
        start = 1 + rng.poisson(np.broadcast_to(scale, (m.n,))[idx] * np.exp(0.5 * e.z[idx]))
        steps = rng.choice([-1, 0, 0, 0, 0, 0, 1], (k, P))
        values = np.maximum(start[:, None] + np.cumsum(steps, axis=1), 0).astype(float)
        long.add_matrix(code, idx, axis, values)
    return long.frame()


def _monthly(m: Model, h: Histories) -> pl.DataFrame:
    rng = m.rng("samr:monthly")
    long = Long(m)
    axis = m.cal.monthly
    ch = h.changes
    add_records(long, "BAS_CHANGES_3Y", ch, ch.window(36))
    shared = np.flatnonzero(m.flags("samr:shared_address", 0.1) & m.reported)
    base = 1 + rng.geometric(0.15, len(shared))
    drift = np.cumsum(rng.choice([-1, 0, 0, 0, 1], (len(shared), len(axis))), axis=1)
    long.add_matrix(
        "BAS_ADDRESS_SHARED", shared, axis, np.maximum(base[:, None] + drift, 1), nonzero=True
    )
    for code, p in (("PRP_CHATTEL_MORTGAGE", 0.04), ("PRP_EQUITY_PLEDGE", 0.03)):
        recs = h.background(
            np.where(m.is_e, p / 3, 0.0), amount=np.exp(13 + 0.8 * m.e.z), dur=(12, 36)
        )
        plural = "PRP_CHATTEL_MORTGAGES" if code == "PRP_CHATTEL_MORTGAGE" else "PRP_EQUITY_PLEDGES"
        add_records(long, plural, recs, recs.active())
        add_records(long, code + "_AMOUNT", recs, recs.active(recs.amount))
    checks = h.background(np.where(m.manuf | m.division_in("52"), 0.3, 0.0))
    add_records(long, "OPR_QUALITY_CHECKS_12M", checks, checks.window(12))
    fails = checks.select(h.rng.random(len(checks.ent)) < 0.08)
    add_records(long, "OPR_QUALITY_FAILS_12M", fails, fails.window(12))
    ab = h.abnormal
    add_records(long, "NEG_ABNORMAL_OPERATION", ab, (ab.active() > 0).astype(float))
    add_records(long, "NEG_ABNORMAL_TIMES", ab, ab.window(h.H))
    add_records(long, "NEG_SERIOUS_VIOLATION", h.serious, (h.serious.active() > 0).astype(float))
    pen = h.penalty
    add_records(long, "NEG_ADMIN_PENALTIES_NEW", pen, pen.new())
    add_records(long, "NEG_ADMIN_PENALTIES_36M", pen, pen.window(36))
    add_records(long, "NEG_ADMIN_PENALTY_AMOUNT_36M", pen, pen.window(36, pen.amount))
    for code, tag in (
        ("NEG_QUALITY_PENALTIES_36M", 2),
        ("NEG_FOOD_PENALTIES_36M", 3),
        ("NEG_PRICE_PENALTIES_36M", 4),
    ):
        sub = pen.select(pen.dur == tag)
        add_records(long, code, sub, sub.window(36))
    for code, tag in (("NEG_LEGAL_REP_CHANGED", 4), ("NEG_CONTROLLER_CHANGED", 5)):
        sub = ch.select(ch.dur == tag)
        add_records(long, code, sub, (sub.new() > 0).astype(float))
    e = m.e
    gone = np.flatnonzero(
        np.isin(e.status, [1, 2]) & (e.exit_g >= m.cal.first) & (e.exit_g <= m.cal.end)
    )
    long.add("NEG_DEREGISTERED", gone, e.exit_g[gone], np.ones(len(gone)))
    comp = h.complaint
    add_records(long, "NEG_COMPLAINTS_12M", comp, comp.window(12))
    for family, recs in (("PENALTY", pen), ("ABNORMAL", ab), ("COMPLAINT", comp)):
        for w in (6, 12, 24, 60):
            add_records(long, f"NEG_{family}_{w}M", recs, recs.window(w))
    return long.frame()
