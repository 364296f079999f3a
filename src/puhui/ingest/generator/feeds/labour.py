"""HRSS (social insurance, Parquet wide) and HPF (housing fund, Parquet long).

Consistency kept: contributions by insurance (pension 24 %, medical 10 %, maternity 0.5 %,
unemployment 1 %, injury by industry) sum to the month's total; the contribution base is
headcount x the per-person base (Ningbo's floor and ceiling); hires minus leavers equals
the change in headcount; 12-month averages are over the months the employer existed.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from puhui.ingest.generator.calendar import WARMUP
from puhui.ingest.generator.catalog import codes
from puhui.ingest.generator.events import Histories
from puhui.ingest.generator.feeds import FileSpec, nan_unless, spread
from puhui.ingest.generator.frames import Long, Wide
from puhui.ingest.generator.model import Model, change, money, sigmoid, trailing

HRSS_MONTHLY = codes("HRSS", "monthly")
HRSS_ANNUAL = codes("HRSS", "annual")
HPF_MONTHLY = codes("HPF", "monthly")

FILES = (
    FileSpec(
        "HRSS/social_insurance_monthly.parquet",
        "HRSS",
        "parquet",
        None,
        "wide",
        HRSS_MONTHLY,
        dirt=("unknown_uscc", "out_of_range"),
    ),
    FileSpec(
        "HRSS/annual.csv", "HRSS", "csv", "utf-8-sig", "long", HRSS_ANNUAL, dirt=("bad_grade",)
    ),
    FileSpec("HRSS/wage_arrears.jsonl", "HRSS", "jsonl", "utf-8", "long", ("OPR_WAGE_ARREARS",)),
    FileSpec(
        "HPF/housing_fund_monthly.parquet",
        "HPF",
        "parquet",
        None,
        "long",
        HPF_MONTHLY,
        dirt=("bad_period", "duplicate_row"),
        numeric=True,
    ),
)


def _avg12(level: np.ndarray, alive: np.ndarray, *, counts: bool) -> np.ndarray:
    months = np.maximum(trailing(alive.astype(float), 12), 1)
    avg = trailing(np.where(alive, level, 0.0), 12) / months
    return np.round(avg) if counts else money(avg)


def _four(
    w: Wide | None, prefix: str, level: np.ndarray, alive: np.ndarray, counts: bool
) -> dict[str, np.ndarray]:
    """Month value, 12-month average and YoY/MoM growth (``(k, T)`` each)."""
    lv = np.where(alive, np.round(level) if counts else money(level), 0.0)
    out = {
        "M": lv[:, WARMUP:],
        "AVG12M": _avg12(lv, alive, counts=counts),
        "YOY": change(lv, 12, alive),
        "MOM": change(lv, 1, alive),
    }
    if w is not None:
        for suffix, values in out.items():
            w.add(f"{prefix}_{suffix}", values)
    return out


def contribution_base(m: Model) -> np.ndarray:
    """Monthly contribution base per insured person (yuan), within Ningbo's limits."""
    return money(np.clip(m.wage, 4462, 22311))


def build(m: Model, h: Histories) -> dict[str, pl.DataFrame]:
    out = _hrss(m, h)
    out["HPF/housing_fund_monthly.parquet"] = _hpf(m)
    return out


def _hrss(m: Model, h: Histories) -> dict[str, pl.DataFrame]:
    rng = m.rng("hrss")
    p = np.select([m.is_e, m.is_i], [0.85, 0.08], 0.3)
    idx = np.flatnonzero(m.flags("hrss", p) & m.reported)
    k, S = len(idx), m.S
    alive = m.alive[idx]
    hc = np.where(alive, m.headcount[idx], 0).astype(float)
    per_head = contribution_base(m)[idx]
    base = money(hc * per_head[:, None] * (1 + rng.normal(0, 0.01, (k, S))))
    injury_rate = np.where(
        m.section_in("CEB")[idx], rng.uniform(0.004, 0.019, k), rng.uniform(0.002, 0.006, k)
    )
    parts = {
        "PENSION": money(base * 0.24),
        "MEDICAL": money(base * 0.10),
        "MATERNITY": money(base * 0.005),
        "UNEMPLOYMENT": money(base * 0.01),
        "INJURY": money(base * injury_rate[:, None]),
    }
    paid = money(np.sum(list(parts.values()), axis=0))
    prev = np.concatenate([hc[:, :1], hc[:, :-1]], axis=1)
    delta = hc - prev
    churn = rng.poisson(np.maximum(hc, 0) * 0.02)
    leavers = churn + np.maximum(-delta, 0)
    hires = churn + np.maximum(delta, 0)

    # every employer reports headcount and contributions; employers with twenty or more staff
    # also the contribution base, hires and leavers and the split by insurance
    detailed = hc[:, WARMUP:].max(axis=1) >= 20
    w = Wide(m, idx, m.cal.monthly)
    _four(w, "OPR_SS_HEADCOUNT", hc, alive, True)
    _four(w, "OPR_SS_PAID", paid, alive, False)
    for prefix, level, counts in (
        ("OPR_SS_BASE", base, False),
        ("OPR_SS_NEW_HIRES", hires, True),
        ("OPR_SS_LEAVERS", leavers, True),
    ):
        for suffix, values in _four(None, prefix, level, alive, counts).items():
            w.add(f"{prefix}_{suffix}", nan_unless(detailed, values))
    for kind, amount in parts.items():
        w.add(f"OPR_SS_{kind}_HEADCOUNT", nan_unless(detailed, hc))
        w.add(f"OPR_SS_{kind}_PAID", nan_unless(detailed, amount))
    w.add("OPR_SS_AVG_WAGE", np.broadcast_to(per_head[:, None], (k, S)))
    grads = np.round(hc * rng.uniform(0, 0.15, k)[:, None])
    w.add("OPR_SS_GRADUATES", nan_unless(m.is_e[idx] & detailed, grads))
    in_arrears = _arrears_and_support(m, h, w, idx, paid, parts["UNEMPLOYMENT"], rng)
    cases = h.owed_wages
    events = Long(m)
    when = m.cal.end - h.H + 1 + cases.h
    events.add("OPR_WAGE_ARREARS", cases.ent, when, np.ones(len(cases.ent)))
    return {
        "HRSS/social_insurance_monthly.parquet": w.frame(HRSS_MONTHLY),
        "HRSS/annual.csv": _hrss_annual(m, idx, in_arrears, h),
        "HRSS/wage_arrears.jsonl": events.frame(),
    }


def _arrears_and_support(
    m: Model, h: Histories, w: Wide, idx: np.ndarray, paid: np.ndarray, unemployment: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:  # fmt: skip
    """Arrears of distressed employers, subsidies and reliefs, wage and blacklist records;
    returns which employers are in arrears."""
    k, S = len(idx), m.S
    ds = m.distress
    since = np.arange(S)[None, :] - ds.onset[idx][:, None]
    late = ds.flag[idx][:, None] & (since >= 3)
    owed = np.where(late, paid * np.minimum(0.2 * (since - 2), 1.0), 0.0)
    in_arrears = ds.flag[idx] & (rng.random(k) < 0.8)
    arrears = money(np.cumsum(owed, axis=1))
    w.add("OPR_SS_ARREARS", nan_unless(in_arrears, arrears))
    w.add("OPR_SS_ARREARS_MONTHS", nan_unless(in_arrears, np.where(late, since - 2, 0)))
    disputes = h.labour
    w.add("OPR_LABOUR_DISPUTES_12M", spread(idx, disputes.entities, disputes.window(12)))
    relief = money(trailing(paid * 0.02, 12))
    w.add("POS_SS_RELIEF_12M", nan_unless(rng.random(k) < 0.25, relief))
    unemployment12 = trailing(unemployment, 12)
    july = (m.moy[WARMUP:] == 6)[None, :]
    refund = np.where(july, money(unemployment12 * 0.6), 0.0)
    refund_full = np.zeros((k, S))
    refund_full[:, WARMUP:] = refund
    eligible = m.is_e[idx] & ~ds.flag[idx] & (rng.random(k) < 0.4)
    w.add("POS_EMPLOYMENT_SUBSIDY_12M", nan_unless(eligible, money(trailing(refund_full, 12))))
    talent = (rng.random((k, S)) < 0.02) * np.round(rng.uniform(2e4, 2e5, (k, S)), -3)
    w.add(
        "POS_SUBSIDY_TALENT_12M",
        nan_unless(m.is_e[idx] & (rng.random(k) < 0.03), trailing(talent, 12)),
    )
    cases = h.owed_wages
    w.add("NEG_OWED_WAGES_CASES", spread(idx, cases.entities, cases.active()))
    listed = cases.select(h.rng.random(len(cases.ent)) < 0.5)
    listed.h = listed.h + 3
    listed.h = np.minimum(listed.h, h.H - 1)
    black = (listed.active() > 0).astype(float)
    w.add(
        "NEG_SOCIAL_BLACKLIST",
        spread(idx, cases.entities, spread(cases.entities, listed.entities, black)),
    )

    return np.asarray(in_arrears)


def _hrss_annual(m: Model, idx: np.ndarray, arrears: np.ndarray, h: Histories) -> pl.DataFrame:
    rng = m.rng("hrss:annual")
    axis = m.cal.annual
    long = Long(m)
    firms = idx[m.is_e[idx]]
    k = len(firms)
    hc = m.headcount[firms][:, axis.sim].astype(float)
    big = hc >= 10
    long.add_matrix(
        "OPR_SS_SENIOR_TITLES",
        firms,
        axis,
        np.where(big, np.round(hc * rng.uniform(0, 0.05, (k, 1))), np.nan),
    )
    long.add_matrix(
        "POS_POSTDOC", firms, axis, np.where((hc >= 200) & (rng.random((k, 1)) < 0.1), 1.0, np.nan)
    )
    long.add_matrix(
        "POS_EMPLOYER_AWARD", firms, axis, np.where(rng.random((k, len(axis))) < 0.01, 1.0, np.nan)
    )
    talent = np.where(rng.random((k, 1)) < 0.01, 1 + rng.poisson(1.0, (k, len(axis))), np.nan)
    long.add_matrix("POS_TALENT_PROGRAMMES", firms, axis, talent)
    disputes = spread(firms, h.labour.entities, h.labour.window(12))[
        :, [int(s) - WARMUP for s in axis.sim]
    ]
    risk = np.where(arrears[m.is_e[idx]][:, None], 2, np.where(np.nan_to_num(disputes) > 0, 1, 0))
    present = m.alive[firms][:, axis.sim]
    g = m.cal.sim_start + axis.sim
    r, c = np.nonzero(present)
    long.add_labels(
        "CRE_LABOUR_RISK", firms[r], g[c], risk[r, c], ("low", "medium", "high"), form="Y"
    )
    return long.frame()


def _hpf(m: Model) -> pl.DataFrame:
    rng = m.rng("hpf")
    p = np.select([m.is_e, m.is_i], [sigmoid(1.5 * m.e.z - 0.4), 0.02], 0.05)
    idx = np.flatnonzero(m.flags("hpf", p) & m.reported)
    k = len(idx)
    alive = m.alive[idx]
    hc = m.headcount[idx].astype(float)
    members = np.where(hc >= 1, np.maximum(np.round(hc * rng.uniform(0.3, 1.0, k)[:, None]), 1), 0)
    rate = rng.choice([0.05, 0.08, 0.10, 0.12], k)
    paid = money(members * contribution_base(m)[idx][:, None] * 2 * rate[:, None])
    long = Long(m)
    axis = m.cal.monthly
    for prefix, level, counts in (
        ("OPR_HPF_HEADCOUNT", members, True),
        ("OPR_HPF_PAID", paid, False),
    ):
        for suffix, values in _four(None, prefix, level, alive, counts).items():
            long.add_matrix(f"{prefix}_{suffix}", idx, axis, values)
    ds = m.distress
    since = np.arange(m.S)[None, :] - ds.onset[idx][:, None]
    owing = ds.flag[idx] & (rng.random(k) < 0.6)
    arrears = money(np.cumsum(np.where(since >= 3, paid * 0.5, 0.0), axis=1))
    long.add_matrix("OPR_HPF_ARREARS", idx, axis, nan_unless(owing, arrears))
    return long.frame(numeric=True)
