"""PBOC (credit relations, Parquet wide; green-credit list, CSV) and CREDIT (the public
credit system: monthly score, wide CSV; annual grades and honours, long CSV; events, JSON
Lines).

Consistency kept: a first-time borrower has no loans; credit lines cover loans; overdue
loans never exceed loans; the negative-record total counts every record family over 60
months; the public credit score falls with open negative records and distress.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from puhui.ingest.generator.calendar import WARMUP
from puhui.ingest.generator.catalog import codes
from puhui.ingest.generator.events import Histories, Records
from puhui.ingest.generator.feeds import FileSpec, nan_unless, spread
from puhui.ingest.generator.feeds.legal import add_last
from puhui.ingest.generator.frames import Long, Wide
from puhui.ingest.generator.model import Model, money, sigmoid, trailing

PBOC_MONTHLY = codes("PBOC", "monthly")
CREDIT_MONTHLY = codes("CREDIT", "monthly")
CREDIT_ANNUAL = codes("CREDIT", "annual")
CREDIT_EVENTS = codes("CREDIT", "event")
CREDIT_GRADES = ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C")

FILES = (
    FileSpec(
        "PBOC/credit_monthly.parquet",
        "PBOC",
        "parquet",
        None,
        "wide",
        PBOC_MONTHLY,
        dirt=("bad_period", "unknown_uscc"),
    ),
    FileSpec(
        "PBOC/green_credit.csv", "PBOC", "csv", "utf-8", "long", ("POS_GREEN_CREDIT_ELIGIBLE",)
    ),
    FileSpec(
        "CREDIT/credit_monthly.csv",
        "CREDIT",
        "csv",
        "utf-8",
        "wide",
        CREDIT_MONTHLY,
        dirt=("out_of_range", "duplicate_row", "wrong_type"),
    ),
    FileSpec(
        "CREDIT/credit_annual.csv",
        "CREDIT",
        "csv",
        "utf-8",
        "long",
        CREDIT_ANNUAL,
        dirt=("bad_grade", "invalid_uscc"),
    ),
    FileSpec(
        "CREDIT/events.jsonl",
        "CREDIT",
        "jsonl",
        "utf-8",
        "long",
        CREDIT_EVENTS,
        dirt=("unknown_indicator", "bad_period"),
    ),
)


def build(m: Model, h: Histories) -> dict[str, pl.DataFrame]:
    return {**_pboc(m), **_credit(m, h)}


def _pboc(m: Model) -> dict[str, pl.DataFrame]:
    rng = m.rng("pboc")
    z = m.e.z
    p = np.select([m.is_e, m.is_i], [0.8 * sigmoid(z + 0.2), 0.18], 0.3)
    idx = np.flatnonzero(m.flags("pboc", p) & m.reported)
    k, S = len(idx), m.S
    alive = m.alive[idx]
    is_e = m.is_e[idx]
    borrower = rng.random(k) < np.select([is_e, m.is_i[idx]], [0.8, 0.7], 0.6)
    first_loan = np.where(
        borrower, -1, np.where(rng.random(k) < 0.1, rng.integers(WARMUP, S, k), S)
    )
    borrowing = (np.arange(S)[None, :] >= first_loan[:, None]) & alive
    yearly_sales = np.maximum(m.sales[idx][:, WARMUP - 12 : WARMUP].sum(axis=1), 1e4)
    ds = m.distress
    since = np.arange(S)[None, :] - ds.onset[idx][:, None]
    dist = ds.flag[idx][:, None] & (since >= 0)
    balance = (
        yearly_sales[:, None]
        * rng.uniform(0.1, 0.6, k)[:, None]
        * np.exp(0.3 * m.common[idx] + rng.normal(0, 0.03, (k, S)))
        * np.where(dist, 1 + 0.03 * since, 1.0)
    )
    balance = money(np.round(np.where(borrowing, balance, 0.0), -3))
    w = Wide(m, idx, m.cal.monthly)
    w.add("FIN_BANK_LOANS", balance)
    banks = np.minimum(1 + rng.poisson(np.maximum(np.exp(0.4 * z[idx]) - 0.5, 0.05)), 12)
    w.add("FIN_LENDING_BANKS", np.where(borrowing, banks[:, None], 0))
    w.add("FIN_FIRST_TIME_BORROWER", (~borrowing).astype(float))
    unused_line = ~borrower & (rng.random(k) < 0.3)
    lines = np.where(
        borrowing,
        balance / rng.uniform(0.5, 0.9, k)[:, None],
        np.where(unused_line, yearly_sales * 0.2, 0.0)[:, None],
    )
    w.add("FIN_CREDIT_LINES", money(np.round(lines, -3)))
    guarantor = is_e & borrower & (rng.random(k) < 0.2)
    w.add(
        "FIN_GUARANTEES_GIVEN",
        nan_unless(guarantor, money(balance * rng.uniform(0.2, 1.0, k)[:, None])),
    )
    overdue = money(
        np.where(dist & (since >= 3), balance * np.minimum(0.1 * (since - 2), 1.0), 0.0)
    )
    w.add("FIN_OVERDUE_LOANS", nan_unless(borrower | (first_loan < S), overdue))
    w.add(
        "FIN_OVERDUE_TIMES_24M",
        nan_unless(borrower | (first_loan < S), trailing((overdue > 0).astype(float), 24)),
    )
    inclusive = m.small_micro[idx] | ~is_e
    w.add(
        "FIN_INCLUSIVE_LOANS",
        nan_unless(inclusive, money(balance * rng.uniform(0.5, 1.0, k)[:, None])),
    )
    guaranteed = inclusive & (rng.random(k) < 0.15)
    w.add(
        "FIN_GOV_GUARANTEED",
        nan_unless(guaranteed, money(balance * rng.uniform(0.1, 0.5, k)[:, None])),
    )
    bills = is_e & borrower & (rng.random(k) < 0.1)
    discounted = money(np.where(borrowing, m.sales[idx] * rng.uniform(0.05, 0.3, k)[:, None], 0.0))
    w.add("FIN_BILLS_DISCOUNTED", nan_unless(bills, discounted))
    claimant = rng.random(k) < 0.03
    claims = money(np.where(rng.random((k, S)) < 0.05, np.exp(rng.normal(10, 1, (k, S))), 0.0))
    w.add("FIN_INSURANCE_CLAIMS", nan_unless(claimant, claims))
    cross = m.exporter[idx] & (rng.random(k) < 0.3)
    w.add(
        "OPR_CROSS_BORDER_RMB_12M",
        nan_unless(cross, money(trailing(m.exports[idx], 12) * rng.uniform(0.05, 0.4, k)[:, None])),
    )
    bad_bills = bills & ds.flag[idx]
    w.add(
        "NEG_OVERDUE_BILLS",
        nan_unless(bad_bills, trailing((dist & (since >= 4)).astype(float), 12)),
    )
    w.add("NEG_BILL_DEFAULT", nan_unless(bad_bills, (dist & (since >= 6)).astype(float)))

    long = Long(m)
    axis = m.cal.annual
    green = idx[is_e & borrower & m.section_in("CD")[idx] & (rng.random(k) < 0.03)]
    long.add_matrix("POS_GREEN_CREDIT_ELIGIBLE", green, axis, np.ones((len(green), len(axis))))
    return {
        "PBOC/credit_monthly.parquet": w.frame(PBOC_MONTHLY),
        "PBOC/green_credit.csv": long.frame(),
    }


def _all_records(h: Histories) -> Records:
    fams = list(h.families().values())
    out = fams[0]
    for r in fams[1:]:
        out = out + r
    return out


def _credit(m: Model, h: Histories) -> dict[str, pl.DataFrame]:
    rng = m.rng("credit")
    records = _all_records(h)
    idx = np.flatnonzero(m.reported)
    monthly, score = _credit_monthly(m, idx, records, rng)
    annual, honoured = _credit_annual(m, idx, score, rng)
    return {
        "CREDIT/credit_monthly.csv": monthly,
        "CREDIT/credit_annual.csv": annual,
        "CREDIT/events.jsonl": _credit_events(m, h, records, honoured, rng),
    }


def _credit_monthly(
    m: Model, idx: np.ndarray, records: Records, rng: np.random.Generator
) -> tuple[pl.DataFrame, np.ndarray]:
    """Score, watch list, record counts for every entity; returns the frame and the score."""
    k, S = len(idx), m.S
    total = np.nan_to_num(spread(idx, records.entities, records.window(60)))
    open_negative = np.nan_to_num(spread(idx, records.entities, records.window(12)))
    ds = m.distress
    since = np.arange(m.cal.months)[None, :] + WARMUP - ds.onset[idx][:, None]
    dist = ds.flag[idx][:, None] & (since >= 0)
    base = 700 + 60 * m.e.z[idx] + rng.normal(0, 40, k)
    score = base[:, None] + rng.normal(0, 5, (k, m.cal.months)) - 15 * total - 30 * open_negative
    score = np.clip(np.round(np.where(dist, score - 8 * since, score), 1), 0, 1000)
    w = Wide(m, idx, m.cal.monthly)
    w.add("CRE_CREDIT_SCORE", score)
    court = ds.court[idx][:, None]
    watch = (dist & (np.arange(m.cal.months)[None, :] + WARMUP >= court)) | (open_negative >= 3)
    watched = watch.any(axis=1)
    w.add("CRE_WATCHLIST", nan_unless(watched, watch.astype(float)))
    w.add("NEG_RECORDS_TOTAL", nan_unless(total.any(axis=1), total))
    related = rng.random(k) < 0.01
    rel_count = np.broadcast_to(1 + rng.poisson(0.5, (k, 1)), (k, m.cal.months)).astype(float)
    w.add("NEG_RELATED_DISHONEST", nan_unless(related, rel_count))
    w.add(
        "NEG_RELATED_IN_TROUBLE",
        nan_unless(related, (rng.random((k, 1)) < 0.5) * np.ones((k, m.cal.months))),
    )
    committed = m.is_e[idx] & (rng.random(k) < 0.2)
    commitments = np.cumsum(rng.random((k, S)) < 0.05, axis=1)[:, WARMUP:] + rng.integers(
        1, 5, (k, 1)
    )
    w.add("POS_CREDIT_COMMITMENTS", nan_unless(committed, commitments.astype(float)))
    return w.frame(CREDIT_MONTHLY), score


def _credit_annual(
    m: Model, idx: np.ndarray, score: np.ndarray, rng: np.random.Generator
) -> tuple[pl.DataFrame, np.ndarray]:
    """Grades from the year-end score, honours, donations; returns the honoured entities."""
    k = len(idx)
    long = Long(m)
    axis = m.cal.annual
    firms = np.flatnonzero(~m.is_i[idx])
    ys = [int(s) - WARMUP for s in axis.sim]
    present = m.alive[idx[firms]][:, axis.sim]
    year_score = score[firms][:, ys]
    grade = np.digitize(-year_score, -np.array([850, 800, 750, 700, 650, 600, 550, 500]))
    r, c = np.nonzero(present)
    g = m.cal.sim_start + axis.sim[c]
    long.add_labels("CRE_CREDIT_GRADE", idx[firms][r], g, grade[r, c], CREDIT_GRADES, form="Y")
    big = firms[(m.e.z[idx[firms]] > 1.5) & (rng.random(len(firms)) < 0.3)]
    esg = rng.choice([0, 1, 2, 3], (len(big), len(axis)), p=[0.2, 0.5, 0.25, 0.05])
    r2, c2 = np.nonzero(m.alive[idx[big]][:, axis.sim])
    long.add_labels(
        "CRE_ESG_GRADE",
        idx[big][r2],
        m.cal.sim_start + axis.sim[c2],
        esg[r2, c2],
        ("A", "B", "C", "D"),
        form="Y",
    )
    Y = len(axis)
    honoured = idx[m.is_e[idx] & (rng.random(k) < 0.05 * sigmoid(m.e.z[idx] + 1) * 1.5)]
    nat = rng.poisson(0.1, (len(honoured), Y))
    prov = rng.poisson(0.4, (len(honoured), Y))
    muni = 1 + rng.poisson(0.8, (len(honoured), Y))
    for code, values in (
        ("POS_HONOURS", nat + prov + muni),
        ("POS_HONOURS_NATIONAL", nat),
        ("POS_HONOURS_PROVINCIAL", prov),
        ("POS_HONOURS_MUNICIPAL", muni),
    ):
        long.add_matrix(code, honoured, axis, values.astype(float), nonzero=True)
    demo = idx[m.is_e[idx] & (rng.random(k) < 0.01)]
    long.add_matrix("POS_CREDIT_DEMO", demo, axis, np.ones((len(demo), Y)))
    donors = idx[m.is_e[idx] & (rng.random(k) < 0.02)]
    gifts = rng.poisson(1.5, (len(donors), Y)).astype(float)
    long.add_matrix("POS_DONATIONS", donors, axis, gifts, nonzero=True)
    long.add_matrix(
        "POS_DONATION_AMOUNT",
        donors,
        axis,
        money(gifts * np.exp(rng.normal(10, 1, (len(donors), Y)))),
        nonzero=True,
    )
    volunteers = idx[rng.random(k) < 0.01]
    long.add_matrix(
        "POS_VOLUNTEER_HOURS",
        volunteers,
        axis,
        rng.poisson(40, (len(volunteers), Y)).astype(float),
        nonzero=True,
    )

    return long.frame(), honoured


def _credit_events(
    m: Model, h: Histories, records: Records, honoured: np.ndarray, rng: np.random.Generator
) -> pl.DataFrame:
    """Credit repairs after penalties, latest honour dates and latest negative-record dates."""
    events = Long(m)
    pen = h.penalty
    repaired = pen.select(h.rng.random(len(pen.ent)) < 0.2)
    rep = h.at(repaired.ent, repaired.h - h.offset + rng.integers(3, 13, len(repaired.ent)))
    rep = rep.select(rep.h >= h.H - h.T)
    g_rep = m.cal.end - h.H + 1 + rep.h
    keep = g_rep < m.e.exit_g[rep.ent]
    events.add("POS_CREDIT_REPAIRED", rep.ent[keep], g_rep[keep], np.ones(keep.sum()))
    day = rng.integers(0, 365, len(honoured)) + (np.datetime64(m.cal.end_label, "M") - 11).astype(
        "datetime64[D]"
    )
    hon_g = day.astype("datetime64[M]").astype(np.int64) + 1970 * 12
    ok = (hon_g <= m.cal.end) & (hon_g >= m.e.est_g[honoured]) & (hon_g < m.e.exit_g[honoured])
    events.add_dates("POS_LAST_HONOUR", honoured[ok], hon_g[ok], day[ok])
    add_last(events, "NEG_LAST_RECORD_DATE", records)
    return events.frame()
