"""Streaming writers, one per format. Every writer is byte-deterministic: no timestamps,
no environment-dependent metadata (XLSX zip members and document properties get a fixed
date; Parquet carries only the writer version)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Protocol

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from puhui.ingest.generator import xlsx
from puhui.ingest.generator.catalog import load_catalog
from puhui.ingest.generator.feeds import FileSpec

_NUMBER = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$")
XLSX_MAX_ROWS = 1_048_576 - 1  # one row is the header


class Writer(Protocol):
    rows: int

    def write(self, df: pl.DataFrame) -> None: ...

    def close(self) -> None: ...


def arrow_type(code: str) -> pa.DataType:
    ind = load_catalog().get(code)
    if ind is None or ind.value_type in ("grade", "code", "date", "text"):
        return pa.string()
    return pa.int64() if ind.value_type in ("count", "flag") else pa.float64()


class CsvWriter:
    """CSV, ``\\n`` line ends, quoting only where needed, empty cell = no value."""

    def __init__(self, path: Path, encoding: str) -> None:
        self.fh = path.open("wb")
        self.encoding = encoding
        self.rows = 0
        self.started = False
        if encoding == "utf-8-sig":
            self.fh.write(b"\xef\xbb\xbf")

    def write(self, df: pl.DataFrame) -> None:
        buf = io.BytesIO()  # numbers are written as a cast to text writes them (dirt relies on it)
        df.write_csv(buf, include_header=not self.started, line_terminator="\n")
        data = buf.getvalue()
        if self.encoding == "gbk":
            data = data.decode("utf-8").encode("gbk")
        self.fh.write(data)
        self.started = True
        self.rows += df.height

    def close(self) -> None:
        self.fh.close()


class ParquetWriter:
    """One row group per chunk; the schema is fixed from the catalog, not from the data."""

    def __init__(self, path: Path, spec: FileSpec) -> None:
        self.path = path
        if spec.layout == "wide":
            fields = [pa.field("uscc", pa.string()), pa.field("period", pa.string())]
            fields += [pa.field(c, arrow_type(c)) for c in spec.columns]
        else:
            value = pa.float64() if spec.numeric else pa.string()
            fields = [pa.field(n, pa.string()) for n in ("uscc", "indicator", "period")]
            fields.append(pa.field("value", value))
        self.schema = pa.schema(fields)
        text = [f.name for f in fields if f.type == pa.string()]
        # dictionary pages pay off for codes, periods and grades, not for measurements
        self.writer = pq.ParquetWriter(path, self.schema, compression="zstd", use_dictionary=text)
        self.rows = 0

    def write(self, df: pl.DataFrame) -> None:
        table = df.to_arrow().cast(self.schema)
        self.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.rows += df.height

    def close(self) -> None:
        self.writer.close()


def _json_text(col: pl.Expr) -> pl.Expr:
    escaped = col.str.replace_all("\\", "\\\\", literal=True).str.replace_all(
        '"', '\\"', literal=True
    )
    return pl.concat_str([pl.lit('"'), escaped, pl.lit('"')])


class JsonlWriter:
    """One object per line: ``uscc``, ``indicator``, ``period`` strings and ``value`` — a
    JSON number for numeric indicators, a string otherwise (and for text where a number
    belongs)."""

    def __init__(self, path: Path) -> None:
        self.fh = path.open("wb")
        self.rows = 0
        self.numeric = [c for c, ind in load_catalog().items() if ind.numeric]

    def write(self, df: pl.DataFrame) -> None:
        value = pl.col("value")
        raw = pl.col("indicator").is_in(self.numeric) & value.str.contains(_NUMBER.pattern)
        line = pl.concat_str(
            [
                pl.lit('{"uscc":'),
                _json_text(pl.col("uscc")),
                pl.lit(',"indicator":'),
                _json_text(pl.col("indicator")),
                pl.lit(',"period":'),
                _json_text(pl.col("period")),
                pl.lit(',"value":'),
                pl.when(value.is_null())
                .then(pl.lit("null"))
                .when(raw)
                .then(value)
                .otherwise(_json_text(value)),
                pl.lit("}"),
            ]
        )
        lines = df.select(line.alias("line"))["line"]
        if len(lines):
            self.fh.write(("\n".join(lines.to_list()) + "\n").encode("utf-8"))
        self.rows += df.height

    def close(self) -> None:
        self.fh.close()


class XlsxWriter:
    """One sheet ``data`` with a header row; numbers as numbers, text as inline strings.
    Rows are kept until close (XLSX files here are small honour lists); more rows than a
    sheet holds is an error. Written directly as SpreadsheetML (openpyxl's writer costs
    ~0.2 ms a row and stamps the current time into the file)."""

    def __init__(self, path: Path, spec: FileSpec) -> None:
        self.path = path
        self.spec = spec
        self.header: list[str] | None = None
        self.data: list[tuple[object, ...]] = []
        self.rows = 0
        self.numeric = {c for c, ind in load_catalog().items() if ind.numeric}

    def write(self, df: pl.DataFrame) -> None:
        if self.header is None:
            self.header = df.columns
        if self.spec.layout == "long":
            for u, i, p, v in df.iter_rows():
                number = v is not None and i in self.numeric and _NUMBER.match(v)
                self.data.append(
                    (u, i, p, (float(v) if "." in v or "e" in v else int(v)) if number else v)
                )
        else:
            self.data.extend(df.iter_rows())
        self.rows += df.height
        if self.rows > XLSX_MAX_ROWS:
            raise ValueError(f"{self.path.name}: {self.rows} rows do not fit in one XLSX sheet")

    def close(self) -> None:
        rows = [self.header or [], *self.data]
        self.path.write_bytes(xlsx.workbook(rows))


def open_writer(root: Path, spec: FileSpec) -> Writer:
    path = root / spec.path
    path.parent.mkdir(parents=True, exist_ok=True)
    if spec.format == "csv":
        return CsvWriter(path, spec.encoding or "utf-8")
    if spec.format == "parquet":
        return ParquetWriter(path, spec)
    if spec.format == "jsonl":
        return JsonlWriter(path)
    if spec.format == "xlsx":
        return XlsxWriter(path, spec)
    raise ValueError(f"unknown format {spec.format}")
