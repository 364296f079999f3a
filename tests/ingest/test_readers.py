from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook

from puhui.ingest.readers import REGISTRY_COLUMNS, FileRejected, read_file

LONG = (
    "uscc,indicator,period,value\n"
    "91330212MA2H3K4L5X,OPR_TAX_TOTAL_12M,2026-09,100\n"
    "9133,税,2026-10,甲\n"
)


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


class TestFormats:
    @pytest.mark.parametrize(
        ("encoding", "bom"), [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("gbk", b"")]
    )
    def test_csv_in_utf8_with_or_without_bom_and_gbk(self, tmp_path, encoding, bom):
        raw = read_file(write(tmp_path, "t.csv", bom + LONG.encode(encoding)))
        assert (raw.format, raw.encoding, raw.layout, raw.rows) == ("csv", encoding, "long", 2)
        assert raw.frame["indicator"].to_list() == ["OPR_TAX_TOTAL_12M", "税"]
        assert raw.frame["row"].to_list() == [1, 2] and raw.frame["value"].to_list() == [
            "100",
            "甲",
        ]

    def test_wide_form_is_melted_and_keeps_row_numbers(self, tmp_path):
        data = "uscc,period,OPR_POWER_M,OPR_WATER_M\nA,2026-09,10,\nB,2026-09,11,12\n"
        raw = read_file(write(tmp_path, "w.csv", data.encode()))
        assert raw.layout == "wide" and raw.rows == 2
        got = sorted(raw.frame.select("row", "indicator", "value").rows())
        assert got == [(1, "OPR_POWER_M", "10"), (2, "OPR_POWER_M", "11"), (2, "OPR_WATER_M", "12")]

    def test_xlsx(self, tmp_path):
        book = Workbook()
        sheet = book.active
        sheet.append(["uscc", "indicator", "period", "value"])
        sheet.append(["A", "POS_HIGH_TECH", "2026", 1])
        sheet.append(["B", "POS_HONOURS", "2026", 3.0])
        book.save(tmp_path / "x.xlsx")
        raw = read_file(tmp_path / "x.xlsx")
        assert (raw.format, raw.layout) == ("xlsx", "long")
        assert raw.frame["value"].to_list() == ["1", "3"]

    def test_jsonl_with_a_bad_line(self, tmp_path):
        lines = [
            json.dumps({"uscc": "A", "indicator": "NEG_ENFORCED", "period": "2026-09", "value": 1}),
            "{not json",
        ]
        raw = read_file(write(tmp_path, "e.jsonl", "\n".join(lines).encode()))
        assert raw.format == "jsonl" and raw.frame["value"].to_list()[0] == "1"
        assert raw.frame["__bad_json__"].to_list()[1] == "{not json"

    def test_parquet_numbers_stay_numbers_and_text_stays_text(self, tmp_path):
        table = pa.table(
            {"uscc": ["A"], "indicator": ["OPR_POWER_M"], "period": ["2026-09"], "value": [12.5]}
        )
        pq.write_table(table, tmp_path / "p.parquet")
        raw = read_file(tmp_path / "p.parquet")
        assert raw.format == "parquet" and raw.frame["value_in"].to_list() == [12.5]
        assert raw.frame["value"].to_list() == [None]
        wide = pa.table(
            {"uscc": ["A"], "period": [202609], "OPR_POWER_M": [7], "OPR_TAX_CREDIT_GRADE": ["B"]}
        )
        pq.write_table(wide, tmp_path / "w.parquet")
        raw = read_file(tmp_path / "w.parquet")
        got = sorted(raw.frame.select("indicator", "period", "value", "value_in").rows())
        assert got == [
            ("OPR_POWER_M", "202609", None, 7.0),
            ("OPR_TAX_CREDIT_GRADE", "202609", "B", None),
        ]

    def test_registry_layout(self, tmp_path):
        header = ",".join(REGISTRY_COLUMNS)
        raw = read_file(
            write(
                tmp_path,
                "registry.csv",
                ("\ufeff" + header + "\n" + ",".join("x" * 11) + "\n").encode(),
            )
        )
        assert raw.layout == "registry" and raw.frame.columns == ["row", *REGISTRY_COLUMNS]


class TestFilesThatAreNotWhatTheyClaim:
    @pytest.mark.parametrize(
        ("name", "data", "message"),
        [
            ("a.csv", b"\x00\x01\x02binary\x00", "binary"),
            ("a.csv", b"", "empty"),
            (
                "a.csv",
                b"uscc,indicator\n" + bytes([0xFF, 0xFE, 0x41]) * 3 + b"\n",
                "neither UTF-8 nor GBK",
            ),
            ("a.csv", b",,\n1,2,3\n", "no header"),
            ("a.csv", b"name,amount\nx,1\n", "neither the long form"),
            (
                "a.csv",
                b"uscc,period,OPR_POWER_M, OPR_POWER_M\nx,1,2,3\n",
                "column OPR_POWER_M twice",
            ),
            ("a.xlsx", b"uscc,indicator,period,value\n", "named as xlsx"),
            ("a.parquet", b"PAR1 this is not really parquet", "truncated or damaged"),
        ],
    )
    def test_whole_file_fails_with_a_clear_message(self, tmp_path, name, data, message):
        with pytest.raises(FileRejected) as info:
            read_file(write(tmp_path, name, data))
        rendered = info.value.message.format(**info.value.params)
        assert message in rendered

    def test_truncated_xlsx(self, tmp_path):
        book = Workbook()
        book.active.append(["uscc", "indicator", "period", "value"])
        book.save(tmp_path / "x.xlsx")
        data = (tmp_path / "x.xlsx").read_bytes()
        with pytest.raises(FileRejected, match="truncated or damaged"):
            read_file(write(tmp_path, "t.xlsx", data[: len(data) // 2]))


def test_gbk_text_after_a_long_ascii_start_is_read_as_gbk(tmp_path):
    ascii_rows = "".join(f"A{i},OPR_TAX_TOTAL_12M,2026-09,{i}\n" for i in range(60_000))
    data = (
        "uscc,indicator,period,value\n" + ascii_rows + "B,OPR_TAX_CREDIT_GRADE,2026-09,甲\n"
    ).encode("gbk")
    assert len(data) > 1 << 20
    raw = read_file(write(tmp_path, "late.csv", data))
    assert raw.encoding == "gbk" and raw.frame["value"].to_list()[-1] == "甲"


def test_a_bad_byte_after_a_long_gbk_start_rejects_the_file_with_its_offset(tmp_path):
    rows = "".join(f"A{i},OPR_TAX_CREDIT_GRADE,2026-09,甲\n" for i in range(60_000))
    data = ("uscc,indicator,period,value\n" + rows).encode("gbk") + b"B,X,2026-09,\xff\xff\n"
    assert len(data) > 1 << 20
    with pytest.raises(FileRejected) as info:
        read_file(write(tmp_path, "late.csv", data))
    assert info.value.params == {"offset": len(data) - 3}
