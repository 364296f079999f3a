"""Personal text values sealed in the lake (SM4-GCM per value, ``LakeFields``): what sealing
adds to writing a department's file, and what revealing adds to reading one entity's history.

The batch is shaped like the market regulator's file: every entity with ten indicators of
one period, one of them the contact mobile (sealed), the rest numbers and public text.
- Writing: ``Lake.append_batch`` of the batch unsealed (the baseline, same run) against
  ``seal`` then ``append_batch`` into a second lake.
- Reading: ``Lake.history`` of random entities (the baseline) against ``history`` then
  ``reveal`` (what the profile, downloads and objections do), per entity.

PUHUI_BENCH_ENTITIES (default 1 380 000, the full city: one mobile per entity).
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

N = int(os.environ.get("PUHUI_BENCH_ENTITIES", "1380000"))
INDICATORS = 10
MOBILE = 15  # the protected indicator's id
READS = 2000


def _batch(n: int) -> Any:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(7)
    entity = np.repeat(np.arange(n, dtype=np.int32), INDICATORS)
    indicator = np.tile(np.arange(MOBILE - INDICATORS + 1, MOBILE + 1, dtype=np.int16), n)
    mobiles = (rng.choice([13, 15, 17, 18, 19], n) * 10**9 + rng.integers(0, 10**9, n)).astype(str)
    text = np.full(n * INDICATORS, None, dtype=object)
    text[indicator == MOBILE] = mobiles
    text[indicator == MOBILE - 1] = "宁波市市场监督管理局"
    numeric = (indicator != MOBILE) & (indicator != MOBILE - 1)
    return pl.DataFrame(
        {
            "entity_id": entity,
            "indicator_id": indicator,
            "period": np.full(n * INDICATORS, 202609, dtype=np.int32),
            "value_num": np.where(numeric, rng.normal(1e5, 3e4, n * INDICATORS), np.nan),
            "value_text": pl.Series(text.tolist(), dtype=pl.String),
            "source_id": np.full(n * INDICATORS, 1, dtype=np.int16),
        }
    ).with_columns(pl.col("value_num").fill_nan(None))


def run() -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="puhui-bench-seal-"))
    os.environ.update(
        PUHUI_ENV="test",
        PUHUI_SECRET_KEY="bench-secret-key-long-enough-0123456789abc",  # noqa: S106
        PUHUI_DATA_DIR=str(root / "var"),
    )
    from puhui.config import get_settings

    get_settings.cache_clear()
    import numpy as np
    import polars as pl

    from puhui.core.lake import Lake
    from puhui.core.security import fields
    from puhui.core.security.lake_fields import LakeFields

    try:
        frame = _batch(N)
        sealed = LakeFields.of({MOBILE: "BAS_CONTACT_MOBILE", MOBILE - 1: "BAS_REG_AUTHORITY"},
                               [MOBILE])  # fmt: skip
        fields.current()  # the keyring is created once, outside the timings

        t = time.perf_counter()
        Lake(root / "plain").append_batch(frame, 1)
        plain_s = time.perf_counter() - t

        t = time.perf_counter()
        stored = sealed.seal(frame)
        seal_s = time.perf_counter() - t
        lake = Lake(root / "sealed")
        lake.append_batch(stored, 1)
        sealed_s = time.perf_counter() - t
        assert (
            stored.filter(pl.col("indicator_id") == MOBILE)["value_text"]
            .str.starts_with("sm4:")
            .all()
        )

        plain = Lake(root / "plain")
        picks = np.random.default_rng(3).integers(0, N, READS).tolist()
        read_ms, reveal_ms = [], []
        for entity in picks:
            t = time.perf_counter()
            plain.history(entity)
            read_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            shown = sealed.reveal(lake.history(entity))
            reveal_ms.append((time.perf_counter() - t) * 1000)
        assert not shown["value_text"].str.starts_with("sm4:").any()
        result = {
            "benchmark": "lake_seal",
            "entities": N,
            "values": frame.height,
            "sealed_values": N,
            "append_unsealed_s": round(plain_s, 2),
            "seal_s": round(seal_s, 2),
            "seal_and_append_s": round(sealed_s, 2),
            "write_ratio": round(sealed_s / plain_s, 2),
            "seals_per_s": round(N / seal_s),
            "history_p50_ms": round(statistics.median(read_ms), 2),
            "history_and_reveal_p50_ms": round(statistics.median(reveal_ms), 2),
            "read_ratio": round(statistics.median(reveal_ms) / statistics.median(read_ms), 2),
        }
        _report(result)
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)
        get_settings.cache_clear()


def _report(r: dict[str, Any]) -> None:
    print(
        f"a batch of {r['values']} values for {r['entities']} entities, "
        f"{r['sealed_values']} of them contact mobiles:"
    )
    print(
        f"  append unsealed {r['append_unsealed_s']} s (baseline); seal {r['seal_s']} s "
        f"({r['seals_per_s']} values/s) + append = {r['seal_and_append_s']} s, "
        f"x{r['write_ratio']}"
    )
    print(
        f"  one entity's history: {r['history_p50_ms']} ms (baseline); with reveal "
        f"{r['history_and_reveal_p50_ms']} ms, x{r['read_ratio']} (medians of {READS})"
    )
