"""Who TAX knows, and in how much detail: shared by the monthly feed and the statements."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from puhui.ingest.generator.model import Model, sigmoid


@dataclass
class Taxpayers:
    """Registered taxpayers of one chunk, in reporting tiers: general VAT payers (``full``)
    report every tax and invoice family; small-scale enterprises total, VAT, corporate income
    tax and invoiced sales; individual businesses and cooperatives (``lean``) total and VAT."""

    idx: np.ndarray  # chunk entities registered with TAX
    general_all: np.ndarray  # (n,) general VAT payer, over the whole chunk
    full: np.ndarray  # (k,) general VAT payers among idx
    lean: np.ndarray  # (k,) neither general payer nor enterprise
    is_e: np.ndarray
    is_i: np.ndarray
    alive: np.ndarray  # (k, S)
    sales: np.ndarray  # (k, S)
    hc: np.ndarray  # (k, S) insured staff, float

    @property
    def k(self) -> int:
        return len(self.idx)

    @classmethod
    def of(cls, m: Model) -> Taxpayers:
        p = np.select([m.is_e, m.is_i], [np.where(m.manuf, 0.97, 0.93), 0.3], 0.5)
        has = m.flags("taxpayer", p) & m.reported
        # general VAT payers: sales above 5 million a year, about a third of enterprises
        p_general = np.select([m.is_e, m.is_i], [sigmoid(1.2 * m.e.z - 0.9), 0.01], 0.05)
        general = m.flags("general_payer", p_general)
        idx = np.flatnonzero(has)
        is_e = m.is_e[idx]
        return cls(
            idx=idx,
            general_all=general,
            full=general[idx],
            lean=~is_e & ~general[idx],
            is_e=is_e,
            is_i=m.is_i[idx],
            alive=m.alive[idx],
            sales=m.sales[idx],
            hc=m.headcount[idx].astype(float),
        )
