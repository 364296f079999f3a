"""Private set intersection: one full DH-PSI run (the bank's N items against the platform's
M, default 10 k vs 100 k) in its three steps, against a baseline measured in the same run:
a plain SHA-256 set intersection of the same items (what the bank would do if it simply sent
hashes — the cost floor PSI adds privacy to). Also the X25519 scalar multiplications per
second, the unit every step is made of."""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from puhui.entities import service as entities
from puhui.psi import protocol

CLIENT = int(os.environ.get("PUHUI_BENCH_PSI_CLIENT", "10000"))
SERVER = int(os.environ.get("PUHUI_BENCH_PSI_SERVER", "100000"))


def _codes(start: int, n: int) -> list[str]:
    return [entities.make(f"91330203MA{i:07d}") for i in range(start, start + n)]


def run() -> dict[str, Any]:
    overlap = min(CLIENT, SERVER) // 2
    mine = _codes(0, CLIENT)
    theirs = _codes(CLIENT - overlap, SERVER)

    t0 = time.perf_counter()
    plain = {hashlib.sha256(c.encode()).digest() for c in theirs}
    plain_hits = sum(hashlib.sha256(c.encode()).digest() in plain for c in mine)
    baseline = time.perf_counter() - t0

    a, b = protocol.new_secret(), protocol.new_secret()
    t0 = time.perf_counter()
    blinded = protocol.blind_items(a, mine)
    t1 = time.perf_counter()
    doubled = protocol.shuffled(protocol.blind(b, blinded))
    server = protocol.shuffled(protocol.blind_items(b, theirs))
    t2 = time.perf_counter()
    hits = len(protocol.intersect(a, doubled, server))
    t3 = time.perf_counter()
    assert hits == plain_hits == overlap, (hits, plain_hits, overlap)

    total = t3 - t0
    ops = 2 * CLIENT + 2 * SERVER
    result = {
        "client_items": CLIENT,
        "server_items": SERVER,
        "matches": hits,
        "baseline_plain_hash_s": round(baseline, 4),
        "client_blind_s": round(t1 - t0, 3),
        "server_s": round(t2 - t1, 3),
        "client_finish_s": round(t3 - t2, 3),
        "total_s": round(total, 3),
        "total_vs_baseline": round(total / baseline, 1),
        "x25519_ops_per_s": round(ops / total),
        "bytes_sent_by_bank": CLIENT * 44,
        "bytes_answered": (CLIENT + SERVER) * 44,
    }
    print(
        f"psi {CLIENT:,} vs {SERVER:,}: {total:.2f} s (client {t1 - t0:.2f} + server "
        f"{t2 - t1:.2f} + client {t3 - t2:.2f}); plain hash intersection {baseline * 1000:.0f} ms "
        f"(PSI = {total / baseline:.0f}x); {ops / total:,.0f} X25519 ops/s"
    )
    return result
