"""Validation of a registry file (the market-regulation department's list of entities).

Same contract as :mod:`puhui.ingest.validate`: one reason per rejected row, naming the
column; an official code whose only fault is its check character is kept and flagged
(a warning), never dropped (GLOSSARY.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from puhui.core.i18n import N_
from puhui.entities import service as entities
from puhui.ingest.validate import normalized_uscc, uscc_checks

REGISTRY_REASONS: dict[str, str] = {
    "invalid_uscc": N_("The USCC is malformed."),
    "missing_value": N_("The value is empty."),
    "not_allowed_value": N_("The value is not one of the allowed values."),
    "kind_mismatch": N_("The entity kind does not match the USCC's category character."),
    "wrong_type": N_("The value does not fit the column's type."),
    "invalid_id_number": N_("The resident ID number is not valid."),
    "duplicate": N_("The same USCC appears earlier in this file."),
}
KINDS = {"enterprise": "1", "individual_business": "2", "cooperative": "3"}
SECTIONS = "ABCDEFGHIJKLMNOPQRST"
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True)
class CheckedRegistry:
    accepted: pl.DataFrame  # the entities columns, ready to upsert
    issues: pl.DataFrame  # row, column, reason, severity, value


def id_number_ok(col: pl.Expr) -> pl.Expr:
    """GB 11643-1999: 17 digits and a check character from "10X98765432"."""
    digits = [col.str.slice(i, 1).cast(pl.Int32, strict=False) for i in range(17)]
    total = pl.sum_horizontal([d * w for d, w in zip(digits, ID_WEIGHTS, strict=True)])
    expected = (total % 11).replace_strict(dict(enumerate("10X98765432")), return_dtype=pl.String)
    return (col.str.contains(r"^\d{17}[\dX]$") & (col.str.slice(17, 1) == expected)).fill_null(
        False
    )


def check_registry(raw: pl.DataFrame) -> CheckedRegistry:
    df = raw.with_columns(
        pl.col("uscc").alias("_uscc_sent"),
        normalized_uscc(pl.col("uscc").fill_null("")).alias("uscc"),
        *(pl.col(c).str.strip_chars() for c in raw.columns if c not in ("row", "uscc")),
    )
    formed, check_ok = uscc_checks(pl.col("uscc"))
    capital = (
        pl.col("registered_capital").str.replace_all(",", "").cast(pl.Decimal(20, 2), strict=False)
    )
    established = pl.col("established").str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    id_col = pl.col("legal_rep_id").str.to_uppercase()
    df = df.with_columns(
        formed.alias("_formed"),
        check_ok.alias("_check_ok"),
        capital.alias("_capital"),
        established.alias("_established"),
        id_col.alias("legal_rep_id"),
    )
    reason_col = (
        pl.when(~pl.col("_formed"))
        .then(pl.struct(reason=pl.lit("invalid_uscc"), column=pl.lit("uscc")))
        .when(pl.col("name").is_null() | (pl.col("name") == ""))
        .then(pl.struct(reason=pl.lit("missing_value"), column=pl.lit("name")))
        .when(~pl.col("entity_kind").is_in(list(KINDS)))
        .then(pl.struct(reason=pl.lit("not_allowed_value"), column=pl.lit("entity_kind")))
        .when(
            pl.col("uscc").str.slice(1, 1)
            != pl.col("entity_kind").replace_strict(KINDS, default=None)
        )
        .then(pl.struct(reason=pl.lit("kind_mismatch"), column=pl.lit("entity_kind")))
        .when(~pl.col("district").is_in(list(entities.DISTRICTS)))
        .then(pl.struct(reason=pl.lit("not_allowed_value"), column=pl.lit("district")))
        .when(
            pl.col("industry_section").is_not_null()
            & ~pl.col("industry_section").is_in(list(SECTIONS))
        )
        .then(pl.struct(reason=pl.lit("not_allowed_value"), column=pl.lit("industry_section")))
        .when(
            pl.col("industry_division").is_not_null()
            & ~pl.col("industry_division").str.contains(r"^\d{2}$")
        )
        .then(pl.struct(reason=pl.lit("wrong_type"), column=pl.lit("industry_division")))
        .when(pl.col("registered_capital").is_not_null() & pl.col("_capital").is_null())
        .then(pl.struct(reason=pl.lit("wrong_type"), column=pl.lit("registered_capital")))
        .when(pl.col("established").is_not_null() & pl.col("_established").is_null())
        .then(pl.struct(reason=pl.lit("wrong_type"), column=pl.lit("established")))
        .when(~pl.col("status").is_in(list(entities.STATUSES)))
        .then(pl.struct(reason=pl.lit("not_allowed_value"), column=pl.lit("status")))
        .when(pl.col("legal_rep_id").is_not_null() & ~id_number_ok(pl.col("legal_rep_id")))
        .then(pl.struct(reason=pl.lit("invalid_id_number"), column=pl.lit("legal_rep_id")))
    )
    df = df.with_columns(reason_col.alias("_why")).unnest("_why")
    first = pl.col("uscc").is_first_distinct().over(pl.col("reason").is_null())
    df = df.with_columns(
        pl.when(pl.col("reason").is_null() & ~first)
        .then(pl.lit("duplicate"))
        .otherwise(pl.col("reason"))
        .alias("reason"),
        pl.when(pl.col("reason").is_null() & ~first)
        .then(pl.lit("uscc"))
        .otherwise(pl.col("column"))
        .alias("column"),
    )
    shown = {c: pl.col(c).cast(pl.String) for c in raw.columns if c not in ("row",)}
    value = pl.col("_uscc_sent")
    for name, expr in shown.items():
        if name != "uscc":
            value = pl.when(pl.col("column") == name).then(expr).otherwise(value)
    rejected = df.filter(pl.col("reason").is_not_null())
    good = df.filter(pl.col("reason").is_null())
    issues = pl.concat(
        [
            rejected.select(
                "row",
                "column",
                "reason",
                pl.lit("reject").alias("severity"),
                pl.when(pl.col("column") == "legal_rep_id")
                .then(pl.lit("******"))
                .otherwise(value)
                .alias("value"),
            ),
            good.filter(~pl.col("_check_ok")).select(
                "row",
                pl.lit("uscc").alias("column"),
                pl.lit("uscc_check_flagged").alias("reason"),
                pl.lit("warn").alias("severity"),
                pl.col("uscc").alias("value"),
            ),
        ]
    ).sort("row")
    accepted = good.select(
        "uscc",
        pl.col("_check_ok").alias("uscc_check_ok"),
        "name",
        pl.col("entity_kind").alias("kind"),
        "district",
        "industry_section",
        "industry_division",
        pl.col("_capital").alias("registered_capital"),
        pl.col("_established").alias("established"),
        "status",
        "legal_rep_name",
        "legal_rep_id",
    )
    return CheckedRegistry(accepted=accepted, issues=issues)
