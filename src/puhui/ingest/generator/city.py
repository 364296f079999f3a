"""Generating a whole city: chunks of entities through every feed into streaming writers.

Invariant: output bytes depend only on (entities, seed, months, end_period, dirt). Each
chunk of ``CHUNK_ENTITIES`` entities draws from its own random streams; registry rows are
drawn in chunk order (names are unique city-wide); dirt is planted and frames are written
in chunk order by one writer thread, so overlapping work never reorders anything.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from queue import Queue

import numpy as np
import polars as pl

from puhui.ingest.generator import registry
from puhui.ingest.generator.calendar import Calendar, month_label, month_number
from puhui.ingest.generator.dirt import Planter
from puhui.ingest.generator.events import Histories
from puhui.ingest.generator.feeds import (
    FileSpec,
    assets,
    finance,
    labour,
    legal,
    market,
    programmes,
    tax,
    trade,
    utilities,
)
from puhui.ingest.generator.manifest import CheckMismatch, DirtEntry, FileEntry, Manifest
from puhui.ingest.generator.model import Model
from puhui.ingest.generator.writers import Writer, open_writer
from puhui.ingest.readers import REGISTRY_COLUMNS

CHUNK_ENTITIES = 50_000
FEEDS = (market, tax, labour, utilities, trade, legal, assets, finance, programmes)
REGISTRY = FileSpec("SAMR/registry.csv", "SAMR", "csv", "utf-8-sig", "registry", REGISTRY_COLUMNS)
TRUTH = "_truth/distressed.csv"

Progress = Callable[[str, int, int], None]
Frames = list[tuple[str, pl.DataFrame]]


def file_specs() -> list[FileSpec]:
    """Every file a city has, registry first, in a fixed order."""
    return [REGISTRY, *(spec for feed in FEEDS for spec in feed.FILES)]


def build_chunk(
    cal: Calendar, ents: registry.Entities, seed: int, chunk: int
) -> tuple[Frames, pl.DataFrame]:
    """Every feed's frames for one chunk, and its distress truth."""
    m = Model(cal, ents, seed=seed, chunk=chunk)
    h = Histories(m)
    frames = [(path, df) for feed in FEEDS for path, df in feed.build(m, h).items()]
    return frames, _truth(m)


class _City:
    """The open files of one city and what the manifest will say about them."""

    def __init__(self, root: Path, manifest: Manifest, planter: Planter) -> None:
        self.root = root
        self.manifest = manifest
        self.planter = planter
        self.specs = {s.path: s for s in file_specs()}
        self.writers: dict[str, Writer] = {p: open_writer(root, s) for p, s in self.specs.items()}
        self.observations = dict.fromkeys(self.writers, 0)
        self.truth: list[pl.DataFrame] = []

    def write_registry(self, ents: registry.Entities) -> None:
        for i in np.flatnonzero(ents.bad_check):
            row = ents.start + int(i) + 1
            self.manifest.registry_check_mismatch.append(CheckMismatch(row, str(ents.uscc[i])))
        self.writers[REGISTRY.path].write(registry.registry_frame(ents))

    def write_chunk(self, frames: Frames, truth: pl.DataFrame) -> None:
        for path, frame in frames:
            spec = self.specs[path]
            df, planted = self.planter.plant(spec, frame)
            writer = self.writers[path]
            for p in planted:
                entry = DirtEntry(path, writer.rows + p.row + 1, p.column, p.kind)
                self.manifest.dirt.append(entry)
            self.observations[path] += _observations(spec, df)
            writer.write(df)
        self.truth.append(truth)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()

    def finish(self) -> Manifest:
        truth = pl.concat(self.truth)
        (self.root / TRUTH).parent.mkdir(parents=True, exist_ok=True)
        truth.write_csv(self.root / TRUTH, line_terminator="\n")
        for path, spec in self.specs.items():
            long = spec.layout == "long"
            self.manifest.files.append(
                FileEntry(
                    path=path,
                    source=spec.source,
                    format=spec.format,
                    encoding=spec.encoding,
                    layout=spec.layout,
                    rows=self.writers[path].rows,
                    observations=self.observations[path],
                    indicators=list(spec.columns) if spec.layout != "registry" else [],
                    value_type=("number" if spec.numeric else "text") if long else None,
                )
            )
        self.manifest.dirt.sort(key=lambda d: (d.file, d.row))
        self.manifest.truth = {"distressed": TRUTH, "distressed_count": truth.height}
        self.manifest.write(self.root)
        return self.manifest


def _observations(spec: FileSpec, df: pl.DataFrame) -> int:
    if spec.layout == "long":
        return df.height
    if spec.layout == "registry":
        return 0
    return int(sum(df.select(pl.col(c).count() for c in spec.columns).row(0)))


def generate_city(
    out_dir: Path,
    *,
    entities: int,
    seed: int,
    months: int = 24,
    end_period: str = "2026-10",
    dirt: bool = True,
    progress: Progress | None = None,
) -> Manifest:
    """Write a synthetic city under ``out_dir`` (see the package docstring for the contract)."""
    if entities < 1 or months < 1:
        raise ValueError("entities and months must be positive")
    cal = Calendar(month_number(end_period), months)
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(
        seed=seed,
        entities=entities,
        months=months,
        end_period=cal.end_label,
        first_period=month_label(cal.first),
        with_dirt=dirt,
        chunk_entities=CHUNK_ENTITIES,
    )
    city = _City(root, manifest, Planter(seed=seed, entities=entities, enabled=dirt))
    seen: set[str] = set()  # entity names taken so far

    # one writer thread plants dirt and writes chunk i while chunk i+1 is being built;
    # numpy, polars and pyarrow release the GIL for their heavy work
    queue: Queue[tuple[int, Frames, pl.DataFrame] | None] = Queue(maxsize=1)
    failure: list[BaseException] = []

    def write_loop() -> None:
        while (item := queue.get()) is not None:
            if failure:
                continue
            done, frames, truth = item
            try:
                city.write_chunk(frames, truth)
            except BaseException as exc:  # re-raised in the calling thread
                failure.append(exc)
            else:
                if progress:
                    progress("entities", done, entities)

    thread = threading.Thread(target=write_loop, name="city-writer", daemon=True)
    thread.start()
    try:
        for chunk, start in enumerate(range(0, entities, CHUNK_ENTITIES)):
            if failure:
                break
            n = min(CHUNK_ENTITIES, entities - start)
            ents = registry.generate(
                cal, seed=seed, chunk=chunk, start=start, n=n, dirt=dirt, seen=seen
            )
            city.write_registry(ents)
            queue.put((start + n, *build_chunk(cal, ents, seed, chunk)))
    finally:
        queue.put(None)
        thread.join()
        city.close()
    if failure:
        raise failure[0]
    manifest = city.finish()
    if progress:
        progress("done", entities, entities)
    return manifest


def _truth(m: Model) -> pl.DataFrame:
    """Distressed firms: when the decline started and when their first court case came."""
    ds = m.distress
    idx = np.flatnonzero(ds.flag)
    start = m.cal.sim_start
    return pl.DataFrame(
        {
            "uscc": m.e.uscc[idx].tolist(),
            "distress_onset": [month_label(start + int(j)) for j in ds.onset[idx]],
            "first_court_event": [month_label(start + int(j)) for j in ds.court[idx]],
        },
        schema={"uscc": pl.Utf8, "distress_onset": pl.Utf8, "first_court_event": pl.Utf8},
    )
