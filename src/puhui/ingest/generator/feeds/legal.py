"""COURT (monthly case counts, CSV; events, JSON Lines) and SPC (dishonest debtors, JSON Lines).

Both send only what is on record: a row per entity and month with a non-zero value (a
window count, an open case, a flag that is set), never zeros. Event files carry the month
of each event; "latest date" indicators carry the date and are repeated whenever a newer
record arrives.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from puhui.ingest.generator.catalog import codes
from puhui.ingest.generator.events import Histories, Records
from puhui.ingest.generator.feeds import FileSpec
from puhui.ingest.generator.frames import Long
from puhui.ingest.generator.model import Model

COURT_MONTHLY = codes("COURT", "monthly")
COURT_EVENTS = codes("COURT", "event")
SPC_ALL = codes("SPC", "monthly", "event")
WINDOWS = (6, 12, 24, 60)

FILES = (
    FileSpec(
        "COURT/cases_monthly.csv",
        "COURT",
        "csv",
        "utf-8",
        "long",
        COURT_MONTHLY,
        dirt=("unknown_indicator", "bad_period"),
    ),
    FileSpec(
        "COURT/events.jsonl",
        "COURT",
        "jsonl",
        "utf-8",
        "long",
        COURT_EVENTS,
        dirt=("invalid_uscc", "duplicate_row"),
    ),
    FileSpec(
        "SPC/dishonest.jsonl",
        "SPC",
        "jsonl",
        "utf-8",
        "long",
        SPC_ALL,
        dirt=("unknown_uscc", "wrong_type"),
    ),
)


def add_records(long: Long, code: str, recs: Records, values: np.ndarray) -> None:
    """Non-zero values of a ``(k, T)`` matrix over ``recs.entities``, in the reported months."""
    long.add_matrix(code, recs.entities, long.m.cal.monthly, values, nonzero=True)


def add_windows(long: Long, family: str, recs: Records) -> None:
    for w in WINDOWS:
        add_records(long, f"NEG_{family}_{w}M", recs, recs.window(w))


def add_last(long: Long, code: str, recs: Records) -> None:
    ent, g, d = recs.last_rows(long.m.cal.end)
    long.add_dates(code, ent, g, d)


def add_new(long: Long, code: str, recs: Records, value: float = 1.0) -> None:
    """One row per record inside the reported window, at its month (events)."""
    inside = recs.h >= recs.H - recs.T
    g = long.m.cal.end - recs.H + 1 + recs.h[inside]
    ent = recs.ent[inside]
    keep = g < long.m.e.exit_g[ent]
    pairs = np.unique(np.stack([ent[keep], g[keep]]), axis=1)
    long.add(code, pairs[0], pairs[1], np.full(pairs.shape[1], value))


def build(m: Model, h: Histories) -> dict[str, pl.DataFrame]:
    court = Long(m)
    seizure, freeze, enforce, lawsuit = h.seizure, h.freeze, h.enforce, h.lawsuit
    add_records(court, "PRP_REAL_ESTATE_SEIZURES", seizure, seizure.active())
    add_records(court, "PRP_EQUITY_FROZEN_AMOUNT", freeze, freeze.active(freeze.amount))
    add_records(court, "NEG_ENFORCED", enforce, (enforce.active() > 0).astype(float))
    add_records(court, "NEG_ENFORCEMENTS", enforce, enforce.active())
    add_records(court, "NEG_ENFORCEMENT_AMOUNT", enforce, enforce.active(enforce.amount))
    add_records(court, "NEG_LAWSUITS_DEFENDANT_NEW", lawsuit, lawsuit.new())
    add_records(court, "NEG_LAWSUITS_DEFENDANT_12M", lawsuit, lawsuit.window(12))
    add_records(court, "NEG_LAWSUITS_PLAINTIFF_12M", h.plaintiff, h.plaintiff.window(12))
    add_records(court, "NEG_LAWSUIT_AMOUNT_12M", lawsuit, lawsuit.window(12, lawsuit.amount))
    loans = lawsuit.select(lawsuit.dur == 2)
    add_records(court, "NEG_FINANCIAL_LAWSUITS_12M", loans, loans.window(12))
    labour = lawsuit.select(lawsuit.dur == 3)
    add_records(court, "NEG_LABOUR_LAWSUITS_12M", labour, labour.window(12))
    for family, recs in (
        ("ENFORCE", enforce),
        ("LAWSUIT", lawsuit),
        ("SEIZURE", seizure),
        ("FREEZE", freeze),
    ):
        add_windows(court, family, recs)

    events = Long(m)
    add_new(events, "PRP_EQUITY_FROZEN", freeze)
    add_new(events, "NEG_BANKRUPTCY", h.bankruptcy)
    for family, recs in (
        ("ENFORCE", enforce),
        ("LAWSUIT", lawsuit),
        ("SEIZURE", seizure),
        ("FREEZE", freeze),
    ):
        add_last(events, f"NEG_{family}_LAST", recs)

    spc = Long(m)
    dishonest, restrict = h.dishonest, h.restrict
    open_cases = dishonest.active()
    add_records(spc, "NEG_DISHONEST", dishonest, (open_cases > 0).astype(float))
    add_records(spc, "NEG_DISHONEST_CASES", dishonest, open_cases)
    add_records(spc, "NEG_CONSUMPTION_RESTRICTED", restrict, (restrict.active() > 0).astype(float))
    rng = m.rng("spc")
    rep_listed = rng.random(len(restrict.entities)) < 0.5
    rep_count = np.where(
        rep_listed[:, None],
        (restrict.active() > 0) * (1 + (rng.random((len(rep_listed), 1)) < 0.3)),
        0,
    )
    add_records(spc, "NEG_LEGAL_REP_DISHONEST", restrict, rep_count.astype(float))
    add_windows(spc, "DISHONEST", dishonest)
    add_last(spc, "NEG_DISHONEST_LAST", dishonest)
    return {
        "COURT/cases_monthly.csv": court.frame(),
        "COURT/events.jsonl": events.frame(),
        "SPC/dishonest.jsonl": spc.frame(),
    }
