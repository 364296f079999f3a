"""Reading what a department sends, as a stream of long-form chunks of strings.

Accepted: CSV in UTF-8 (with or without BOM) or GBK, XLSX (first sheet), JSON Lines and
Parquet; long form ``(uscc, indicator, period, value)``, wide form (``uscc, period`` and
one column per indicator code) and the registry layout. Wide files are melted to long.

Invariants
- A file is read in chunks of about :data:`CHUNK_VALUES` values and at most
  :data:`CHUNK_BYTES` of data (CSV blocks, Parquet record batches, JSON Lines blocks), so
  memory is bounded by the chunk, not the file: the full city's largest files hold
  hundreds of millions of values.
- A file that is not what it claims (binary data, a truncated or damaged XLSX or Parquet,
  an encoding that is neither UTF-8 nor GBK, no header) fails as a whole with
  :class:`FileRejected`, whose message says what is wrong. The format, the encoding and
  the header are checked before the first chunk; damage further on (a broken CSV line, a
  truncated Parquet row group) raises while chunks are read, and the caller discards
  what it had read: nothing of such a file is kept.
- Every value comes back as a string (or null) exactly as sent, with its 1-based data-row
  number in ``row`` (the header is row 0), so validation can say which row was wrong;
  Parquet numbers stay numbers (``value_in``). A wide row is never split between chunks.
"""

from __future__ import annotations

import codecs
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from puhui.core.errors import ValidationFailed

LONG_COLUMNS = ("uscc", "indicator", "period", "value")
REGISTRY_COLUMNS = (
    "uscc",
    "name",
    "entity_kind",
    "district",
    "industry_section",
    "industry_division",
    "registered_capital",
    "established",
    "status",
    "legal_rep_name",
    "legal_rep_id",
)
FORMATS = ("csv", "xlsx", "jsonl", "parquet")
SNIFF_BYTES = 1 << 20
CHUNK_VALUES = 4_000_000  # values (long-form rows) per chunk
CHUNK_BYTES = 96 << 20  # and at most this much of the file's data
SCAN_BYTES = 1 << 24
CSV_BLOCK_BYTES = 1 << 24


class FileRejected(ValidationFailed):
    default_code = "file_rejected"
    default_message = "The file cannot be read."


@dataclass(frozen=True)
class RawFile:
    """A whole file in memory (small files, tests): the concatenation of its chunks."""

    frame: pl.DataFrame  # long: row, uscc, indicator, period, value[, value_in]; registry
    format: str
    encoding: str | None
    layout: str  # long, wide or registry
    rows: int  # data rows in the file (before melting)


@dataclass
class FileStream:
    """An opened file whose format, encoding, header and layout have been checked."""

    path: Path
    format: str
    encoding: str | None
    layout: str  # long, wide or registry
    columns: list[str]  # the header, names normalised
    size: int
    rows: int = 0  # data rows read so far (before melting); all of them once drained
    _position: list[int] = field(default_factory=lambda: [0])

    def chunks(self) -> Iterator[pl.DataFrame]:
        """Long-form (or registry) chunks in file order, row numbers counted across them."""
        self.rows = 0
        width = max(1, len(self.columns) - 2) if self.layout == "wide" else 1
        target = max(1, CHUNK_VALUES // width)
        pending: list[pa.Table] = []
        pending_rows = 0
        pending_bytes = 0
        for table in self._tables():
            start = 0
            row_bytes = max(1, table.nbytes // max(table.num_rows, 1))
            while start < table.num_rows:
                room = max(1, (CHUNK_BYTES - pending_bytes) // row_bytes)
                piece = table.slice(start, min(target - pending_rows, room))
                start += piece.num_rows
                pending.append(piece)
                pending_rows += piece.num_rows
                pending_bytes += piece.nbytes
                # long texts (addresses, business scopes) end a chunk early
                if pending_rows >= target or pending_bytes >= CHUNK_BYTES:
                    yield self._shape(_concat(pending))
                    pending, pending_rows, pending_bytes = [], 0, 0
        if pending:
            yield self._shape(_concat(pending))

    def done_fraction(self) -> float:
        """How far the reading has come (bytes or rows of the file), for progress bars."""
        return min(1.0, self._position[0] / self.size) if self.size else 1.0

    def read_all(self) -> RawFile:
        parts = list(self.chunks())
        frame = pl.concat(parts, how="diagonal_relaxed") if parts else self._shape(None)
        return RawFile(frame, self.format, self.encoding, self.layout, self.rows)

    # -- per format

    def _tables(self) -> Iterator[pa.Table]:
        if self.format == "csv":
            yield from self._csv_tables()
        elif self.format == "parquet":
            yield from self._parquet_tables()
        elif self.format == "jsonl":
            yield from self._jsonl_tables()
        else:
            table = _read_xlsx(self.path)
            self._position[0] = self.size
            yield table

    def _csv_tables(self) -> Iterator[pa.Table]:
        assert self.encoding is not None
        names = _header(self.path, self.encoding)
        source = pa.OSFile(str(self.path))
        try:
            reader = pacsv.open_csv(
                source,
                read_options=pacsv.ReadOptions(
                    encoding="utf8" if self.encoding == "utf-8" else self.encoding,
                    block_size=CSV_BLOCK_BYTES,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                ),
            )
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                self._position[0] = source.tell()
                yield pa.Table.from_batches([batch])
        except UnicodeDecodeError as exc:
            raise FileRejected(
                "The file is neither UTF-8 nor GBK text (bad byte at offset {offset}).",
                offset=_bad_offset(self.path, self.encoding),
            ) from exc
        except pa.ArrowInvalid as exc:
            raise FileRejected(
                "The CSV file cannot be parsed: {reason}", reason=_short(exc)
            ) from exc
        finally:
            source.close()

    def _parquet_tables(self) -> Iterator[pa.Table]:
        try:
            file = pq.ParquetFile(self.path)
            total = max(1, file.metadata.num_rows)
            schema = file.schema_arrow
            keys = {"uscc", "indicator", "period", *REGISTRY_COLUMNS}
            # numbers stay numbers (as float64): turning 10^8 values into text and back
            # costs more than all the checks; everything else is read as text
            target = pa.schema(
                [
                    pa.field(
                        f.name,
                        pa.float64()
                        if _numeric(f.type) and f.name.strip().lower() not in keys
                        else pa.string(),
                    )
                    for f in schema
                ]
            )
            read = 0
            for batch in file.iter_batches(batch_size=1 << 16):
                read += batch.num_rows
                self._position[0] = int(self.size * read / total)
                yield pa.Table.from_batches([batch]).cast(target)
        except (pa.ArrowInvalid, OSError) as exc:
            raise FileRejected("The Parquet file is truncated or damaged.") from exc

    def _jsonl_tables(self) -> Iterator[pa.Table]:
        records: list[dict[str, Any]] = []
        with self.path.open("rb") as fh:
            for number, data in enumerate(fh, start=1):
                line = _jsonl_line(data, number)
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    record = {"__bad_json__": line[:200]}
                if not isinstance(record, dict):
                    record = {"__bad_json__": line[:200]}
                records.append(record)
                if len(records) >= 1 << 16:
                    self._position[0] = fh.tell()
                    yield _records_table(records)
                    records = []
        self._position[0] = self.size
        if records:
            yield _records_table(records)

    # -- shaping

    def _shape(self, table: pa.Table | None) -> pl.DataFrame:
        if table is None:
            frame = pl.DataFrame({c: pl.Series([], dtype=pl.String) for c in self.columns})
        else:
            got = pl.from_arrow(table, rechunk=False)
            assert isinstance(got, pl.DataFrame)
            frame = got.rename(_normalised(got.columns))
        offset = self.rows
        self.rows += frame.height
        return _to_long(frame, self.layout, offset)


def _concat(tables: list[pa.Table]) -> pa.Table:
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")


def _normalised(columns: list[str]) -> dict[str, str]:
    known = {*LONG_COLUMNS, *REGISTRY_COLUMNS}
    return {c: c.strip().lower() if c.strip().lower() in known else c.strip() for c in columns}


def detect_format(path: Path, head: bytes) -> str:
    suffix = path.suffix.lower().lstrip(".")
    claimed = {
        "csv": "csv",
        "txt": "csv",
        "xlsx": "xlsx",
        "jsonl": "jsonl",
        "ndjson": "jsonl",
        "json": "jsonl",
        "parquet": "parquet",
        "pq": "parquet",
    }.get(suffix)
    actual: str | None
    if head.startswith(b"PAR1"):
        actual = "parquet"
    elif head.startswith(b"PK\x03\x04"):
        actual = "xlsx"
    elif b"\x00" in head[:SNIFF_BYTES]:
        raise FileRejected("The file is binary data, not a CSV, XLSX, JSON Lines or Parquet file.")
    else:
        actual = "jsonl" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"
    if claimed is not None and claimed != actual:
        raise FileRejected(
            "The file is named as {claimed} but its content is {actual}.",
            claimed=claimed,
            actual=actual,
        )
    return actual


def open_file(path: Path) -> FileStream:
    """Check what the file is (format, encoding, header, layout) without reading its rows."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head.strip():
        raise FileRejected("The file is empty.")
    fmt = detect_format(path, head)
    encoding: str | None = None
    if fmt == "csv":
        encoding = _encoding(path, head)
        names = _header(path, encoding)
    elif fmt == "parquet":
        try:
            names = list(pq.ParquetFile(path).schema_arrow.names)
        except (pa.ArrowInvalid, OSError) as exc:
            raise FileRejected("The Parquet file is truncated or damaged.") from exc
    elif fmt == "jsonl":
        encoding = "utf-8"
        names = _jsonl_names(path)
    else:
        names = list(_read_xlsx(path, header_only=True).column_names)
    mapping = _normalised(names)
    columns = [mapping[c] for c in names]
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise FileRejected("The header names the column {name} twice.", name=twice[0])
    return FileStream(path, fmt, encoding, _layout(columns), columns, size)


def read_file(path: Path) -> RawFile:
    """The whole file in memory (small files)."""
    return open_file(path).read_all()


def _layout(columns: list[str]) -> str:
    present = set(columns) - {"__bad_json__"}
    if set(REGISTRY_COLUMNS) <= present:
        return "registry"
    if set(LONG_COLUMNS) <= present:
        return "long"
    if {"uscc", "period"} <= present and len(present) > 2:
        return "wide"
    raise FileRejected(
        "The header {header} is neither the long form (uscc, indicator, period, value), the wide "
        "form (uscc, period and indicator codes) nor the registry layout.",
        header=", ".join(sorted(present))[:200],
    )


def _encoding(path: Path, head: bytes) -> str:
    """UTF-8 if the whole file decodes as UTF-8, else GBK if its first megabyte does.

    The whole file is scanned for UTF-8 (ASCII blocks cost a byte test, not a decode): a
    file whose first megabyte is plain ASCII may hold GBK text further on. GBK is checked
    on the first megabyte here and on the rest while the rows are read (a bad byte there
    rejects the file with the same message)."""
    if _bad_offset(path, "utf-8") is None:
        return "utf-8"
    if head.startswith(b"\xef\xbb\xbf"):
        offset = _bad_offset(path, "utf-8")
        raise FileRejected(
            "The file is neither UTF-8 nor GBK text (bad byte at offset {offset}).", offset=offset
        )
    sample = head if len(head) < SNIFF_BYTES else head[: head.rfind(b"\n") + 1] or head
    try:
        sample.decode("gbk")
    except UnicodeDecodeError as exc:
        raise FileRejected(
            "The file is neither UTF-8 nor GBK text (bad byte at offset {offset}).",
            offset=exc.start,
        ) from exc
    return "gbk"


def _bad_offset(path: Path, encoding: str) -> int | None:
    decoder = codecs.getincrementaldecoder(encoding)()
    done = 0
    with path.open("rb") as fh:
        while block := fh.read(SCAN_BYTES):
            if block.isascii() and not decoder.getstate()[0]:
                done += len(block)
                continue
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return done + exc.start
            done += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return done + exc.start
    return None


def _header(path: Path, encoding: str) -> list[str]:
    with path.open(
        "r", encoding="utf-8-sig" if encoding == "utf-8" else encoding, newline=""
    ) as fh:
        line = fh.readline()
    names = [c.strip() for c in line.rstrip("\r\n").split(",")]
    if not line.strip() or any(not n for n in names):
        raise FileRejected("The file has no header row naming its columns.")
    return names


def _read_xlsx(path: Path, *, header_only: bool = False) -> pa.Table:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileRejected("The XLSX file is truncated or damaged.") from exc
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if not header or any(h is None or not str(h).strip() for h in header):
            raise FileRejected("The file has no header row naming its columns.")
        names = [str(h).strip() for h in header]
        columns: list[list[str | None]] = [[] for _ in names]
        for values in [] if header_only else rows:
            for i in range(len(names)):
                v = values[i] if i < len(values) else None
                columns[i].append(None if v is None else _cell(v))
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        raise FileRejected("The XLSX file is truncated or damaged.") from exc
    finally:
        book.close()
    return pa.table({n: pa.array(c, type=pa.string()) for n, c in zip(names, columns, strict=True)})


def _cell(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return str(value.isoformat())[:10]
    return str(value)


def _jsonl_line(data: bytes, number: int) -> str:
    try:
        line = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRejected(
            "Line {line} of the JSON Lines file is not UTF-8 text.", line=number
        ) from exc
    return line.removeprefix("\ufeff") if number == 1 else line


def _jsonl_names(path: Path) -> list[str]:
    """The keys of the first block of records (a later record may add indicator codes)."""
    names: list[str] = []
    seen = 0
    with path.open("rb") as fh:
        for number, data in enumerate(fh, start=1):
            line = _jsonl_line(data, number)
            if not line.strip():
                continue
            seen += 1
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                names.extend(k for k in record if k not in names)
            if seen >= 1 << 12:
                break
    if not seen:
        raise FileRejected("The file is empty.")
    return names


def _records_table(records: list[dict[str, Any]]) -> pa.Table:
    names: list[str] = []
    for record in records:
        names.extend(k for k in record if k not in names)
    return pa.table(
        {n: pa.array([_json_value(r.get(n)) for r in records], type=pa.string()) for n in names}
    )


def _json_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)


def _numeric(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    )


def _to_long(frame: pl.DataFrame, layout: str, offset: int) -> pl.DataFrame:
    """One chunk in the shape validation takes; ``offset`` data rows came before it."""
    frame = frame.with_row_index("row", offset=offset + 1).with_columns(
        pl.col("row").cast(pl.Int64)
    )
    keys = [c for c in ("uscc", "indicator", "period") if c in frame.columns]
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in keys)
    if layout == "registry":
        return frame.select(
            "row",
            *(
                pl.col(c).cast(pl.String) if c in frame.columns else pl.lit(None, pl.String)
                for c in REGISTRY_COLUMNS
            ),
        )
    if layout == "long":
        extra = ["__bad_json__"] if "__bad_json__" in frame.columns else []
        for c in LONG_COLUMNS:
            if c not in frame.columns:
                frame = frame.with_columns(pl.lit(None, pl.String).alias(c))
        return _typed_value(frame.select("row", *LONG_COLUMNS, *extra))
    codes = [c for c in frame.columns if c not in ("row", "uscc", "period", "__bad_json__")]
    index = ["row", "uscc", "period"]
    for c in ("uscc", "period"):
        if c not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(c))
    numeric = [c for c in codes if frame.schema[c] == pl.Float64]
    text = [c for c in codes if c not in numeric]
    parts = []
    if numeric:
        parts.append(
            frame.unpivot(index=index, on=numeric, variable_name="indicator", value_name="value_in")
            .filter(pl.col("value_in").is_not_null())
            .with_columns(pl.lit(None, dtype=pl.String).alias("value"))
        )
    if text:
        parts.append(
            frame.unpivot(index=index, on=text, variable_name="indicator", value_name="value")
            .with_columns(pl.col("value").cast(pl.String))
            .filter(pl.col("value").is_not_null())
            .with_columns(pl.lit(None, dtype=pl.Float64).alias("value_in"))
        )
    if not parts:
        return pl.DataFrame(
            schema={
                "row": pl.Int64,
                **dict.fromkeys(LONG_COLUMNS, pl.String),
                "value_in": pl.Float64,
            }
        )
    return pl.concat([p.select("row", *LONG_COLUMNS, "value_in") for p in parts])


def _typed_value(long: pl.DataFrame) -> pl.DataFrame:
    """``value`` as text and ``value_in`` as a number when the file typed it numerically."""
    if long.schema["value"] == pl.Float64:
        return long.with_columns(
            pl.col("value").alias("value_in"), pl.lit(None, dtype=pl.String).alias("value")
        )
    return long.with_columns(
        pl.col("value").cast(pl.String), pl.lit(None, dtype=pl.Float64).alias("value_in")
    )


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200]


def read_bytes(data: bytes, filename: str) -> RawFile:
    """Read an uploaded file (written to a temporary file first: readers stream from disk)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(filename).name
        path.write_bytes(data)
        return read_file(path)
