"""Reading what a department sends into one table of strings.

Accepted: CSV in UTF-8 (with or without BOM) or GBK, XLSX (first sheet), JSON Lines and
Parquet; long form ``(uscc, indicator, period, value)``, wide form (``uscc, period`` and
one column per indicator code) and the registry layout. Wide files are melted to long.

Invariants
- A file that is not what it claims (binary data, a truncated or damaged XLSX or Parquet,
  an encoding that is neither UTF-8 nor GBK, no header) fails as a whole with
  :class:`FileRejected`, whose message says what is wrong; nothing is read from it.
- Every value comes back as a string (or null) exactly as sent, with its 1-based data-row
  number in ``row`` (the header is row 0), so validation can say which row was wrong.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
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


class FileRejected(ValidationFailed):
    default_code = "file_rejected"
    default_message = "The file cannot be read."


@dataclass(frozen=True)
class RawFile:
    frame: (
        pl.DataFrame
    )  # long: row, uscc, indicator, period, value; registry: row + REGISTRY_COLUMNS
    format: str
    encoding: str | None
    layout: str  # long, wide or registry
    rows: int  # data rows in the file (before melting)


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


def read_file(path: Path) -> RawFile:
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head.strip():
        raise FileRejected("The file is empty.")
    fmt = detect_format(path, head)
    encoding: str | None = None
    if fmt == "csv":
        encoding = _encoding(path, head)
        try:
            table = _read_csv(path, encoding)
        except FileRejected:
            # The first megabyte was plain ASCII, so it could not tell UTF-8 from GBK; a
            # non-UTF-8 byte further on means GBK (text that is neither still fails).
            if encoding != "utf-8" or not head.isascii():
                raise
            encoding = "gbk"
            table = _read_csv(path, encoding)
    elif fmt == "xlsx":
        table = _read_xlsx(path)
    elif fmt == "jsonl":
        encoding = "utf-8"
        table = _read_jsonl(path)
    else:
        table = _read_parquet(path)
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return _shape(frame, fmt, encoding)


def _encoding(path: Path, head: bytes) -> str:
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    sample = head if len(head) < SNIFF_BYTES else head[: head.rfind(b"\n") + 1] or head
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        sample.decode("gbk")
        return "gbk"
    except UnicodeDecodeError as exc:
        raise FileRejected(
            "The file is neither UTF-8 nor GBK text (bad byte at offset {offset}).",
            offset=exc.start,
        ) from exc


def _header(path: Path, encoding: str) -> list[str]:
    with path.open(
        "r", encoding="utf-8-sig" if encoding == "utf-8" else encoding, newline=""
    ) as fh:
        line = fh.readline()
    names = [c.strip() for c in line.rstrip("\r\n").split(",")]
    if not line.strip() or any(not n for n in names):
        raise FileRejected("The file has no header row naming its columns.")
    return names


def _read_csv(path: Path, encoding: str) -> pa.Table:
    names = _header(path, encoding)
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                encoding="utf8" if encoding == "utf-8" else encoding, block_size=1 << 24
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise FileRejected("The CSV file cannot be parsed: {reason}", reason=_short(exc)) from exc


def _read_xlsx(path: Path) -> pa.Table:
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
        for values in rows:
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


def _read_jsonl(path: Path) -> pa.Table:
    records: list[dict[str, Any]] = []
    names: list[str] = []
    with path.open("r", encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = {"__bad_json__": line[:200]}
            if not isinstance(record, dict):
                record = {"__bad_json__": line[:200]}
            for key in record:
                if key not in names:
                    names.append(key)
            record["__line__"] = number
            records.append(record)
    if not records:
        raise FileRejected("The file is empty.")
    cols = {n: pa.array([_json_value(r.get(n)) for r in records], type=pa.string()) for n in names}
    return pa.table(cols)


def _json_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)


def _read_parquet(path: Path) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileRejected("The Parquet file is truncated or damaged.") from exc
    # numbers stay numbers (as float64): turning 10^8 values into text and back costs more
    # than all the checks; everything else is read as text like the other formats
    keys = {"uscc", "indicator", "period", *REGISTRY_COLUMNS}
    return pa.table(
        {
            n: table.column(n).cast(
                pa.float64()
                if _numeric(table.column(n).type) and n.strip().lower() not in keys
                else pa.string()
            )
            for n in table.column_names
        }
    )


def _numeric(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    )


def _shape(frame: pl.DataFrame, fmt: str, encoding: str | None) -> RawFile:
    frame = frame.rename(
        {
            c: c.strip().lower()
            if c.strip().lower() in {*LONG_COLUMNS, *REGISTRY_COLUMNS}
            else c.strip()
            for c in frame.columns
        }
    )
    columns = set(frame.columns) - {"__bad_json__", "__line__"}
    rows = frame.height
    frame = frame.with_row_index("row", offset=1).with_columns(pl.col("row").cast(pl.Int64))
    keys = [c for c in ("uscc", "indicator", "period") if c in frame.columns]
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in keys)
    if set(REGISTRY_COLUMNS) <= columns:
        registry = frame.select("row", *(pl.col(c).cast(pl.String) for c in REGISTRY_COLUMNS))
        return RawFile(registry, fmt, encoding, "registry", rows)
    if set(LONG_COLUMNS) <= columns:
        extra = ["__bad_json__"] if "__bad_json__" in frame.columns else []
        long = frame.select("row", *LONG_COLUMNS, *extra)
        return RawFile(_typed_value(long), fmt, encoding, "long", rows)
    if {"uscc", "period"} <= columns and len(columns) > 2:
        codes = [c for c in frame.columns if c not in ("row", "uscc", "period", "__line__")]
        index = ["row", "uscc", "period"]
        numeric = [c for c in codes if frame.schema[c] == pl.Float64]
        text = [c for c in codes if c not in numeric]
        parts = []
        if numeric:
            parts.append(
                frame.unpivot(
                    index=index, on=numeric, variable_name="indicator", value_name="value_in"
                )
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
        long = pl.concat([p.select("row", *LONG_COLUMNS, "value_in") for p in parts])
        return RawFile(long, fmt, encoding, "wide", rows)
    raise FileRejected(
        "The header {header} is neither the long form (uscc, indicator, period, value), the wide "
        "form (uscc, period and indicator codes) nor the registry layout.",
        header=", ".join(sorted(columns))[:200],
    )


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
