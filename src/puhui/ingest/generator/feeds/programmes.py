"""Lists and programmes: STB and EIT honours (XLSX), their grants, COUNTY 亩均 evaluation
(GBK CSV) and support, EEB environment and EMB work safety (long CSV mixing annual
``YYYY``, monthly ``YYYY-MM`` and event rows).

Honour lists name only the entities on them; a flag that is not set gives no row (long
files) or 0 (wide honour sheets, whose rows are the listed firms).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from puhui.ingest.generator.catalog import codes
from puhui.ingest.generator.events import Histories, Records
from puhui.ingest.generator.feeds import FileSpec
from puhui.ingest.generator.feeds.legal import add_last, add_records
from puhui.ingest.generator.frames import Long, Wide
from puhui.ingest.generator.model import Model, money, sigmoid

STB_ANNUAL = codes("STB", "annual")
STB_MONTHLY = codes("STB", "monthly")
EIT_ANNUAL = codes("EIT", "annual")
COUNTY_ANNUAL = codes("COUNTY", "annual")
COUNTY_MONTHLY = codes("COUNTY", "monthly")
EEB_ALL = codes("EEB", "annual", "monthly", "event")
EMB_ALL = codes("EMB", "annual", "monthly")

FILES = (
    FileSpec(
        "STB/tech_honours.xlsx",
        "STB",
        "xlsx",
        None,
        "wide",
        STB_ANNUAL,
        dirt=("duplicate_row", "out_of_range"),
    ),
    FileSpec("STB/tech_monthly.csv", "STB", "csv", "utf-8", "long", STB_MONTHLY),
    FileSpec(
        "EIT/sme_honours.xlsx",
        "EIT",
        "xlsx",
        None,
        "long",
        EIT_ANNUAL,
        dirt=("unknown_indicator", "invalid_uscc"),
    ),
    FileSpec("EIT/upgrade_grants.csv", "EIT", "csv", "utf-8", "long", ("POS_SUBSIDY_UPGRADE_12M",)),
    FileSpec(
        "COUNTY/mu_evaluation.csv",
        "COUNTY",
        "csv",
        "utf-8-sig",
        "wide",
        COUNTY_ANNUAL,
        dirt=("bad_grade", "unknown_uscc"),
    ),
    FileSpec(
        "COUNTY/support_monthly.csv",
        "COUNTY",
        "csv",
        "utf-8-sig",
        "long",
        COUNTY_MONTHLY,
        dirt=("duplicate_row",),
    ),
    FileSpec(
        "EEB/environment.csv",
        "EEB",
        "csv",
        "utf-8",
        "long",
        EEB_ALL,
        dirt=("unknown_uscc", "bad_grade"),
    ),
    FileSpec("EMB/safety.csv", "EMB", "csv", "utf-8-sig", "long", EMB_ALL, dirt=("out_of_range",)),
)


def build(m: Model, h: Histories) -> dict[str, pl.DataFrame]:
    return {**_stb(m, h), **_eit(m, h), **_county(m, h), **_eeb(m, h), **_emb(m, h)}


def _persistent(
    rng: np.random.Generator, p: np.ndarray, years: int, keep: float = 0.9
) -> np.ndarray:
    """(n, years) holding flags: drawn for the first year, mostly kept, a few new each year."""
    out = np.zeros((len(p), years), dtype=bool)
    out[:, 0] = rng.random(len(p)) < p
    for y in range(1, years):
        out[:, y] = np.where(
            out[:, y - 1], rng.random(len(p)) < keep, rng.random(len(p)) < p * 0.15
        )
    return out


def _grants(h: Histories, rate: np.ndarray, amount: np.ndarray) -> Records:
    return h.background(rate, amount=amount)


def _stb(m: Model, h: Histories) -> dict[str, pl.DataFrame]:
    rng = m.rng("stb")
    axis = m.cal.annual
    Y = len(axis)
    tech = m.is_e & (m.manuf | m.section_in("IM")) & m.reported
    strength = sigmoid(1.2 * m.e.z - 1.0) * tech
    high = _persistent(rng, 0.15 * strength, Y)
    sme = _persistent(rng, 0.25 * strength, Y, keep=0.8)
    gazelle = high & (rng.random((m.n, 1)) < 0.05)
    unicorn = gazelle & (rng.random((m.n, 1)) < 0.05)
    centre = high & (rng.random((m.n, 1)) < 0.1)
    lab = high & (rng.random((m.n, 1)) < 0.02)
    listed = (high | sme) & m.alive[:, axis.sim]
    idx = np.flatnonzero(listed.any(axis=1))
    w = Wide(m, idx, axis, listed[idx])
    for code, flag in (
        ("POS_HIGH_TECH", high),
        ("POS_TECH_SME", sme),
        ("POS_GAZELLE", gazelle),
        ("POS_UNICORN_SEED", unicorn),
        ("POS_ENG_CENTRE", centre),
        ("POS_KEY_LAB", lab),
    ):
        w.add(code, flag[idx].astype(float))
    k = len(idx)
    hc = m.headcount[idx][:, axis.sim].astype(float)
    w.add("OPR_RD_STAFF", np.maximum(np.round(hc * rng.uniform(0.05, 0.3, (k, 1))), 1))
    w.add("POS_AWARDS_SCI", rng.poisson(0.05, (k, Y)).astype(float))
    w.add("POS_UNIVERSITY_PROJECTS", rng.poisson(0.3, (k, Y)).astype(float))

    long = Long(m)
    firms = tech & (strength > 0.3)
    grants = _grants(h, np.where(firms, 0.3, 0.0), np.exp(12 + 0.5 * m.e.z))
    add_records(long, "POS_SUBSIDY_RD_12M", grants, grants.window(12, grants.amount))
    contracts = _grants(h, np.where(firms, 0.5, 0.0), np.exp(12.5 + 0.6 * m.e.z))
    add_records(long, "POS_TECH_CONTRACTS_12M", contracts, contracts.window(12))
    add_records(
        long, "POS_TECH_CONTRACT_AMOUNT_12M", contracts, contracts.window(12, contracts.amount)
    )
    return {"STB/tech_honours.xlsx": w.frame(STB_ANNUAL), "STB/tech_monthly.csv": long.frame()}


def _eit(m: Model, h: Histories) -> dict[str, pl.DataFrame]:
    rng = m.rng("eit")
    axis = m.cal.annual
    Y = len(axis)
    maker = m.is_e & m.manuf & m.reported
    strength = sigmoid(1.2 * m.e.z - 0.5) * maker
    long = Long(m)
    specialised = _persistent(rng, 0.08 * strength, Y)
    flags = {
        "POS_SPECIALISED_SME": specialised,
        "POS_LITTLE_GIANT": specialised & (rng.random((m.n, 1)) < 0.1),
        "POS_SINGLE_CHAMPION": _persistent(rng, 0.002 * strength, Y),
        "POS_INNOVATIVE_SME": _persistent(rng, 0.12 * strength, Y, keep=0.8),
        "POS_TECH_CENTRE": _persistent(rng, 0.03 * strength, Y),
        "POS_GREEN_FACTORY": _persistent(rng, 0.02 * strength, Y),
        "POS_SMART_FACTORY": _persistent(rng, 0.015 * strength, Y),
        "POS_DIGITAL_WORKSHOP": _persistent(rng, 0.02 * strength, Y),
        "POS_SERVICE_MODEL": _persistent(rng, 0.01 * strength, Y),
    }
    for code, flag in flags.items():
        sel = np.flatnonzero(flag.any(axis=1))
        long.add_matrix(code, sel, axis, np.where(flag[sel], 1.0, np.nan))
    grants = _grants(h, np.where(maker, 0.05, 0.0), np.exp(13 + 0.6 * m.e.z))
    upgrade = Long(m)
    add_records(upgrade, "POS_SUBSIDY_UPGRADE_12M", grants, grants.window(12, grants.amount))
    return {"EIT/sme_honours.xlsx": long.frame(), "EIT/upgrade_grants.csv": upgrade.frame()}


def _county(m: Model, h: Histories) -> dict[str, pl.DataFrame]:
    rng = m.rng("county")
    axis = m.cal.annual
    e = m.e
    land_mu = m.holdings.area[:, 5] / 666.67
    lessee = m.is_e & m.manuf & (land_mu == 0) & (rng.random(m.n) < 0.6)
    leased_area = np.where(
        lessee, np.round(np.exp(7 + 0.8 * e.z + rng.normal(0, 0.4, m.n)), 2), 0.0
    )
    evaluated = m.is_e & m.manuf & ((land_mu >= 3) | (leased_area >= 1000))
    agri_leader = m.section_in("A") & ~m.is_i & (rng.random(m.n) < 0.05)
    model_coop = m.is_c & (rng.random(m.n) < 0.08)
    family_farm = m.is_i & m.section_in("A") & (rng.random(m.n) < 0.1)
    reserve = m.is_e & (e.z > 2.0) & (rng.random(m.n) < 0.2)
    culture = m.section_in("R") & m.is_e & (rng.random(m.n) < 0.05)
    listed = (evaluated | agri_leader | model_coop | family_farm | reserve | culture) & m.reported
    present = m.alive[:, axis.sim] & listed[:, None]
    idx = np.flatnonzero(present.any(axis=1))
    w = Wide(m, idx, axis, present[idx])
    k = len(idx)
    w.add("PRP_LEASED_PREMISES", np.where(lessee[idx], 1 + rng.poisson(0.3, k), np.nan))
    w.add("PRP_LEASED_AREA", np.where(lessee[idx], leased_area[idx], np.nan))
    year_sales = np.stack([m.sales[idx][:, y - 11 : y + 1].sum(axis=1) for y in axis.sim], axis=1)
    mu = np.maximum(land_mu[idx], leased_area[idx] / 666.67)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        per_mu = np.where(evaluated[idx][:, None] & (mu > 0), money(year_sales * 0.03 / mu), np.nan)
    w.add("OPR_MU_OUTPUT", per_mu)
    grade = np.where(
        np.isnan(per_mu), -1, np.digitize(-np.nan_to_num(per_mu), [-300_000, -150_000, -50_000])
    )
    w.add_labels("OPR_MU_GRADE", grade, ("A", "B", "C", "D"))
    for code, flag in (
        ("POS_AGRI_LEADER", agri_leader),
        ("POS_MODEL_COOP", model_coop),
        ("POS_FAMILY_FARM", family_farm),
        ("POS_LISTED_RESERVE", reserve),
        ("POS_CULTURE_KEY", culture),
    ):
        w.add(code, np.where(flag[idx], 1.0, np.nan))

    long = Long(m)
    subsidised = h.background(
        np.where(m.is_e, 0.01, 0.001), amount=np.exp(13.5 + 0.5 * e.z), dur=(12, 24)
    )
    add_records(long, "FIN_SUBSIDY_LOANS", subsidised, subsidised.active(subsidised.amount))
    bidders = m.is_e & m.section_in("EILMN")
    bids = h.background(np.where(bidders, 0.3, 0.0), amount=np.exp(12.5 + 0.7 * e.z))
    add_records(long, "OPR_BIDS_WON_12M", bids, bids.window(12))
    add_records(long, "OPR_BIDS_WON_AMOUNT_12M", bids, bids.window(12, bids.amount))
    gov = bids.select(h.rng.random(len(bids.ent)) < 0.6)
    add_records(long, "OPR_GOV_CONTRACTS_12M", gov, gov.window(12))
    subsidies = h.background(np.where(m.is_e, 0.12, 0.02), amount=np.exp(10 + 0.6 * e.z))
    add_records(long, "POS_SUBSIDIES_12M", subsidies, subsidies.window(12, subsidies.amount))
    add_records(long, "POS_SUBSIDIES_COUNT_12M", subsidies, subsidies.window(12))
    trade = h.background(np.where(m.exporter, 0.2, 0.0), amount=np.exp(10.5 + 0.5 * e.z))
    add_records(long, "POS_SUBSIDY_TRADE_12M", trade, trade.window(12, trade.amount))
    agri = h.background(np.where(m.section_in("A"), 0.3, 0.0), amount=np.exp(9.5 + 0.5 * e.z))
    add_records(long, "POS_SUBSIDY_AGRI_12M", agri, agri.window(12, agri.amount))
    banned = h.serious + h.dishonest
    add_records(long, "NEG_GOV_PROCUREMENT_BANNED", banned, (banned.active() > 0).astype(float))
    white = np.flatnonzero(
        m.flags("county:whitelist", np.where(m.is_e, 0.05, 0.0)) & m.reported & ~m.distress.flag
    )
    long.add_matrix("CRE_WHITELIST", white, m.cal.monthly, np.ones((len(white), m.cal.months)))
    return {
        "COUNTY/mu_evaluation.csv": w.frame(COUNTY_ANNUAL),
        "COUNTY/support_monthly.csv": long.frame(),
    }


def _yearly_labels(
    long: Long, code: str, ents: np.ndarray, grades: np.ndarray, names: tuple[str, ...]
) -> None:
    m = long.m
    axis = m.cal.annual
    present = m.alive[ents][:, axis.sim]
    r, c = np.nonzero(present)
    long.add_labels(code, ents[r], m.cal.sim_start + axis.sim[c], grades[r, c], names, form="Y")


def _eeb(m: Model, h: Histories) -> dict[str, pl.DataFrame]:
    rng = m.rng("eeb")
    axis = m.cal.annual
    Y = len(axis)
    long = Long(m)
    env = h.env
    regulated = np.flatnonzero(
        m.flags("eeb:regulated", np.where(m.is_e & m.section_in("CDEN"), 0.6, 0.0)) & m.reported
    )
    k = len(regulated)
    penalised = np.isin(regulated, env.entities)
    credit = np.where(
        penalised[:, None],
        rng.choice([2, 3, 4], (k, Y), p=[0.6, 0.3, 0.1]),
        rng.choice([0, 1, 2], (k, Y), p=[0.2, 0.7, 0.1]),
    )
    _yearly_labels(
        long, "OPR_ENV_CREDIT", regulated, credit, ("green", "blue", "yellow", "red", "black")
    )
    _yearly_labels(
        long,
        "CRE_ENV_RISK_GRADE",
        regulated,
        np.minimum(np.maximum(credit - 1, 0), 2),
        ("low", "medium", "high"),
    )
    green = np.where(credit == 0, rng.choice([0, 1], (k, Y)), np.where(credit == 1, 2, 3))
    _yearly_labels(
        long, "CRE_GREEN_GRADE", regulated, green, ("dark_green", "green", "light_green", "none")
    )
    big = regulated[m.e.z[regulated] > 1.5]
    long.add_matrix(
        "OPR_ENERGY_AUDITS", big, axis, np.where(rng.random((len(big), Y)) < 0.3, 1.0, np.nan)
    )
    leaders = regulated[rng.random(k) < 0.005]
    long.add_matrix("POS_ENV_LEADER", leaders, axis, np.ones((len(leaders), Y)))
    certified = regulated[rng.random(k) < 0.05]
    long.add_matrix(
        "POS_GREEN_CERTS",
        certified,
        axis,
        np.broadcast_to(1 + rng.poisson(0.5, (len(certified), 1)), (len(certified), Y)).astype(
            float
        ),
    )
    grants = h.background(
        np.where(np.isin(np.arange(m.n), regulated), 0.03, 0.0), amount=np.exp(11 + 0.5 * m.e.z)
    )
    add_records(long, "POS_SUBSIDY_GREEN_12M", grants, grants.window(12, grants.amount))
    add_records(long, "NEG_ENV_PENALTIES_NEW", env, env.new())
    add_records(long, "NEG_ENV_PENALTIES_36M", env, env.window(36))
    black = env.select(h.rng.random(len(env.ent)) < 0.1)
    black.dur[:] = 24
    add_records(long, "NEG_ENV_BLACKLIST", black, (black.active() > 0).astype(float))
    for w in (6, 12, 24, 60):
        add_records(long, f"NEG_ENV_{w}M", env, env.window(w))
    add_last(long, "NEG_ENV_LAST", env)
    return {"EEB/environment.csv": long.frame()}


def _emb(m: Model, h: Histories) -> dict[str, pl.DataFrame]:
    rng = m.rng("emb")
    long = Long(m)
    axis = m.cal.annual
    Y = len(axis)
    firms = np.flatnonzero(m.is_e & m.section_in("CEB") & m.reported)
    k = len(firms)
    grade = np.broadcast_to(rng.choice([0, 1, 2, 3], (k, 1), p=[0.02, 0.1, 0.4, 0.48]), (k, Y))
    _yearly_labels(long, "OPR_SAFETY_GRADE", firms, grade, ("1", "2", "3", "none"))
    risk = np.where(grade == 3, rng.choice([1, 2], (k, Y), p=[0.8, 0.2]), 0)
    _yearly_labels(long, "CRE_SAFETY_RISK_GRADE", firms, risk, ("low", "medium", "high"))
    models = firms[(grade[:, 0] <= 1) & (rng.random(k) < 0.05)]
    long.add_matrix("POS_SAFETY_MODEL", models, axis, np.ones((len(models), Y)))
    safety = h.safety
    work, fire = safety.select(safety.dur == 1), safety.select(safety.dur == 2)
    add_records(long, "NEG_SAFETY_PENALTIES_36M", work, work.window(36))
    add_records(long, "NEG_FIRE_PENALTIES_36M", fire, fire.window(36))
    black = work.select(h.rng.random(len(work.ent)) < 0.1)
    black.dur[:] = 12
    add_records(long, "NEG_SAFETY_BLACKLIST", black, (black.active() > 0).astype(float))
    return {"EMB/safety.csv": long.frame()}
