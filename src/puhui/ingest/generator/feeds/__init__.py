"""One module per group of departments. Each exposes ``FILES`` (what it writes) and
``build(m, h) -> {path: frame}`` for one chunk of entities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from puhui.ingest.generator.calendar import WARMUP
from puhui.ingest.generator.model import change, money, trailing

FORMATS = ("csv", "xlsx", "jsonl", "parquet")
LAYOUTS = ("long", "wide")


@dataclass(frozen=True)
class FileSpec:
    """One file a department sends.

    ``columns``: for wide files the indicator columns in order; for long files the indicator
    codes that may appear. ``dirt``: the kinds of planted dirt this file carries when the
    city is generated with ``dirt=True``. ``numeric``: long file whose ``value`` column is a
    number rather than text (Parquet only)."""

    path: str
    source: str
    format: str
    encoding: str | None
    layout: str
    columns: tuple[str, ...]
    dirt: tuple[str, ...] = ()
    numeric: bool = False


def spread(feed: np.ndarray, entities: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """Put rows of ``mat`` (one per entity in ``entities``) at those entities' positions in
    ``feed``; entities outside ``feed`` are dropped, feed rows without a record are nan."""
    out = np.full((len(feed), mat.shape[1]), np.nan)
    pos = np.searchsorted(feed, entities)
    ok = (pos < len(feed)) & (feed[np.minimum(pos, len(feed) - 1)] == entities)
    out[pos[ok]] = mat[ok]
    return out


def five(level: np.ndarray, alive: np.ndarray, *, counts: bool = False) -> dict[str, np.ndarray]:
    """The month value, trailing 3- and 12-month sums and YoY/MoM growth of a monthly level
    (rounded to the fen, or to whole units for counts, before anything is derived), each
    ``(k, T)`` over the reported months."""
    m = np.round(level) if counts else money(level)
    m[~alive] = 0.0
    r3, r12 = trailing(m, 3), trailing(m, 12)
    if not counts:
        r3, r12 = money(r3), money(r12)
    return {
        "M": m[:, WARMUP:],
        "3M": r3,
        "12M": r12,
        "YOY": change(m, 12, alive),
        "MOM": change(m, 1, alive),
    }


def nan_unless(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` where ``mask`` (broadcast over months), nan elsewhere."""
    mask = mask[:, None] if mask.ndim == 1 and values.ndim == 2 else mask
    return np.where(mask, values, np.nan)
