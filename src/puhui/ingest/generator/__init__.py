"""Synthetic city generator: what Ningbo's departments would send the platform.

``generate_city(out_dir, *, entities, seed, months=24, end_period="2026-10", dirt=True,
progress=None) -> Manifest`` writes one folder per data source (the catalog's ``source``;
never ``PLATFORM``, whose indicators the platform computes), a ``manifest.json`` and a
ground-truth folder ``_truth/``. Same seed and parameters, same bytes in every file.

THE CONTRACT (what ingestion may rely on)

Identifiers and values
- ``uscc``: 18 characters, upper case, no spaces. Registry codes flagged in the manifest's
  ``registry_check_mismatch`` carry a wrong check character *as issued* and are used with
  that same code in every file (kept and flagged, GLOSSARY.md); every other code that is
  not valid or not in the registry is planted dirt.
- ``indicator``: a catalog code, only ever sent by its catalog source.
- ``period``: ``YYYY-MM`` for monthly, static and event indicators, ``YYYY-Qn`` for
  quarterly, ``YYYY`` for annual ones. Monthly series cover the ``months`` months ending at
  ``end_period``; quarters and years are those whose last month lies in that window.
  Static facts are dated ``end_period``; event facts the month they happened (events and
  "latest date" facts may predate the window). No period lies after ``end_period``.
- ``value``: amounts in yuan to 2 decimals; ``ratio`` indicators to 4 decimals when their
  unit is ``ratio`` and 2 otherwise (kWh, m3, m2, points, years); counts and flags as
  integers (flags 0/1); grades as one of ``allowed_values``; dates ``YYYY-MM-DD``; text as is.
  Every value respects the catalog's type, ``min_value``/``max_value`` and allowed values,
  except planted dirt. No value is an empty cell (wide) or no row (long); files marked
  "non-zero values only" send only what is on record (no row means 0).

Layouts and formats
- long: columns ``uscc,indicator,period,value``; wide: ``uscc,period`` then one column per
  indicator code (the file's ``indicators`` in the manifest, in that order); one row per
  entity and period, sorted by entity then period (long: then catalog order).
- CSV: comma-separated, ``\\n`` line ends, a header row, quotes only where needed;
  encodings ``utf-8``, ``utf-8-sig`` (with BOM) or ``gbk``. Numbers as polars writes them
  (shortest round trip, e.g. ``12.0``, ``1234.56``).
- XLSX: one sheet ``data``, header in row 1, numbers as numbers, text as inline strings.
- JSON Lines: one object ``{"uscc","indicator","period","value"}`` per line, UTF-8;
  ``value`` is a JSON number for amount/count/ratio/flag indicators, a string otherwise.
- Parquet (zstd, one row group per chunk of 50,000 entities): wide files type indicator
  columns int64 (count, flag), float64 (amount, ratio) or string (grade, date, text); long
  files have string columns and a ``value`` column that is float64 in
  ``HPF/housing_fund_monthly.parquet`` (manifest ``value_type`` "number") and string
  otherwise.

Files (every source in the catalog except PLATFORM)
  SAMR/registry.csv                      csv utf-8-sig registry  the entities (below)
  SAMR/profile.csv                       csv gbk       long  static (YYYY-MM = end) + events
  SAMR/annual_reports.csv                csv utf-8-sig wide  annual YYYY
  SAMR/quarterly.csv                     csv utf-8     long  quarterly YYYY-Qn
  SAMR/monthly.csv                       csv utf-8     long  monthly, non-zero values only
  TAX/tax_monthly.parquet                parquet       wide  monthly (105 indicators)
  TAX/statements_quarterly.csv           csv gbk       wide  quarterly YYYY-Qn
  TAX/statements_annual.csv              csv gbk       wide  annual YYYY
  TAX/events.csv                         csv utf-8     long  events
  HRSS/social_insurance_monthly.parquet  parquet       wide  monthly
  HRSS/annual.csv                        csv utf-8-sig long  annual YYYY
  HRSS/wage_arrears.jsonl                jsonl         long  events
  HPF/housing_fund_monthly.parquet       parquet       long  monthly (numeric value)
  POWER/electricity_monthly.parquet      parquet       wide  monthly
  POWER/capacity.csv                     csv utf-8     long  events
  WATER/water_gas_monthly.csv            csv utf-8     wide  monthly
  CUSTOMS/trade_monthly.csv              csv utf-8-sig wide  monthly
  CUSTOMS/credit_annual.csv              csv utf-8     long  annual YYYY
  COURT/cases_monthly.csv                csv utf-8     long  monthly, non-zero values only
  COURT/events.jsonl                     jsonl         long  events
  SPC/dishonest.jsonl                    jsonl         long  monthly (non-zero) + events
  NRP/real_estate_quarterly.csv          csv utf-8-sig wide  quarterly YYYY-Qn
  NRP/seizures.csv                       csv utf-8     long  events
  CNIPA/ip_monthly.csv                   csv utf-8     wide  monthly
  CNIPA/ip_annual.csv                    csv utf-8     long  annual YYYY
  CCRC/movable_collateral.csv            csv utf-8     long  monthly, non-zero values only
  PBOC/credit_monthly.parquet            parquet       wide  monthly
  PBOC/green_credit.csv                  csv utf-8     long  annual YYYY
  CREDIT/credit_monthly.csv              csv utf-8     wide  monthly
  CREDIT/credit_annual.csv               csv utf-8     long  annual YYYY
  CREDIT/events.jsonl                    jsonl         long  events
  STB/tech_honours.xlsx                  xlsx          wide  annual YYYY (listed firms)
  STB/tech_monthly.csv                   csv utf-8     long  monthly, non-zero values only
  EIT/sme_honours.xlsx                   xlsx          long  annual YYYY (flags that are set)
  EIT/upgrade_grants.csv                 csv utf-8     long  monthly, non-zero values only
  COUNTY/mu_evaluation.csv               csv utf-8-sig wide  annual YYYY
  COUNTY/support_monthly.csv             csv utf-8-sig long  monthly, non-zero values only
  EEB/environment.csv                    csv utf-8     long  annual YYYY + monthly + events
  EMB/safety.csv                         csv utf-8-sig long  annual YYYY + monthly
The manifest lists each file's ``indicators``; ``file_specs()`` is the same list in code.

Registry (``SAMR/registry.csv``, UTF-8 with BOM), columns exactly
``uscc,name,entity_kind,district,industry_section,industry_division,registered_capital,
established,status,legal_rep_name,legal_rep_id``: ``entity_kind`` enterprise |
individual_business | cooperative (USCC category 1/2/3, about two individual businesses
per enterprise); ``district`` a Ningbo division code (= USCC positions 3-8);
``industry_section`` GB/T 4754 letter, ``industry_division`` its two digits;
``registered_capital`` whole yuan; ``established`` ``YYYY-MM-DD``; ``status`` active |
revoked | deregistered | moved_out; ``legal_rep_id`` an 18-character resident ID number with
a valid GB 11643 check character. The columns carry BAS_NAME, BAS_ENTITY_TYPE, BAS_DISTRICT,
BAS_INDUSTRY_SECTION, BAS_INDUSTRY_DIVISION, BAS_REG_CAPITAL, BAS_ESTABLISHED, BAS_STATUS,
BAS_LEGAL_REP_NAME and BAS_LEGAL_REP_ID, which no other file repeats (SAMR/profile.csv adds
BAS_STATUS events for changes inside the window).

Planted dirt (``dirt=True``; see ``dirt.KINDS``), a few rows per file at known places, each
row wrong in exactly one way; no other row of any file is wrong in these ways:
``invalid_uscc`` (bad check character, not a registry code), ``unknown_uscc`` (valid, not in
the registry), ``unknown_indicator`` (long files), ``wrong_type`` (text where a number
belongs), ``out_of_range`` (outside min/max), ``bad_period`` (``2026-13``, ``2026-00``,
``2025-Q5``, ``2O25``), ``duplicate_row`` (an exact copy of the row above; the copy is the
dirty row) and ``bad_grade`` (not in allowed_values). Dirt goes into the first chunk of
entities that has suitable rows.

manifest.json
``{"seed", "entities", "months", "end_period", "first_period", "with_dirt",
"chunk_entities", "files": [{"path", "source", "format", "encoding", "layout", "rows",
"observations", "indicators", "value_type"}], "dirt": [{"file", "row", "column", "kind"}],
"registry_check_mismatch": [{"row", "uscc"}], "truth": {"distressed",
"distressed_count"}, "format", "totals": {"files", "rows", "observations"}}``. ``rows``
count data rows (header excluded); ``row`` in dirt is 1-based over data rows; ``column``
is ``uscc``, ``indicator``, ``period``, ``value`` or the wide column's indicator code, and
null for ``duplicate_row``. ``observations``: long rows, or non-empty indicator cells of
wide rows (dirty ones included); 0 for the registry. ``encoding`` is null for XLSX and
Parquet.

Ground truth (not a department feed; ingesters skip folders starting with ``_``):
``_truth/distressed.csv`` lists the firms in distress (``uscc, distress_onset,
first_court_event``): from the onset their tax, headcount, electricity and water fall;
their first court or dishonest-debtor record (suits they bring as plaintiff aside) appears
in the month ``first_court_event``, 4-8 months later.

Scale and progress: entities are generated in chunks of 50,000 (memory stays bounded);
``progress(phase, done, total)`` is called from the writer thread with phase "entities"
after each chunk is written and "done" at the end. The full city (1,380,000 entities, 24
months) has about 1.1 billion observations (about 810 per entity) in 223 million rows,
about 10 GiB on disk.
"""

from puhui.ingest.generator.city import CHUNK_ENTITIES, file_specs, generate_city
from puhui.ingest.generator.dirt import EXPECTED_REASON as DIRT_REASONS
from puhui.ingest.generator.dirt import KINDS as DIRT_KINDS
from puhui.ingest.generator.manifest import Manifest

__all__ = [
    "CHUNK_ENTITIES",
    "DIRT_KINDS",
    "DIRT_REASONS",
    "Manifest",
    "file_specs",
    "generate_city",
]
