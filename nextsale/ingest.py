"""Load landing files into `raw.<table>`, quarantining what breaks the contract.

DuckDB does the reading (its CSV reader records lines it cannot parse; JSON lines are read one
line per row and parsed in SQL) and the typing (`try_cast`); the rules come from
`nextsale.contracts`. Each file is loaded in one transaction:

* a file already loaded with the same content (sha256) is skipped, so reloading changes nothing;
  a file re-delivered under the same name with new content replaces its earlier rows;
* a file-level problem (missing required column, empty, undecodable or truncated file, or any
  error while loading it) loads nothing of that file and is recorded with its reason, while the
  other files still load;
* every line lands either in `raw.<table>` or in `raw_quarantine.<table>` with a reason: the
  lines the parser accounts for are reconciled against an independent count of the file's lines
  (`nextsale.landing_files.scan`) and the rows against what was written (rows in = kept +
  quarantined), before the transaction commits;
* columns the contract does not know are kept (as text) and reported; header names are matched
  without regard to case or surrounding spaces, and a name that collides with a bookkeeping
  column is kept as `landing<name>`.
"""

from __future__ import annotations

import csv
import gzip
import io
import tempfile
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from nextsale import provenance
from nextsale.config import CURRENCY_RATES_SEED
from nextsale.contracts import (
    BOOL,
    EARLIEST_TIMESTAMP,
    FUTURE_TOLERANCE,
    INT,
    MAX_AMOUNT,
    MONEY,
    QUARANTINE,
    RAW,
    TEXT,
    TIMESTAMP,
    Column,
    Contract,
)
from nextsale.identifiers import identifier_sql, register
from nextsale.landing_files import (
    LandingFileError,
    LineScan,
    RepairedFile,
    repair,
    scan,
    unclosed_quote_line,
)
from nextsale.warehouse import connect_duckdb

FILE_LOG = f"{RAW}._file_loads"
META_COLUMNS = ("_source_file", "_row_number", "_loaded_at")
# Columns ingestion itself writes or works with: a landing column of the same name is renamed.
BOOKKEEPING_COLUMNS = (*META_COLUMNS, "_reason", "_raw_line", "_first_row")
TYPED_PREFIX = "_typed:"  # a landing column named so is renamed too

__all__ = ["LandingFileError", "TableLoad", "FileLoad", "ingest_table", "reconcile"]


@dataclass
class FileLoad:
    file: str
    status: str  # loaded | unchanged | rejected
    rows_in: int = 0
    rows_kept: int = 0
    rows_quarantined: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    extra_columns: tuple[str, ...] = ()
    error: str | None = None
    # the file's data lines, counted apart from the parser (blank lines left out); a CSV record
    # with a quoted line break spans more than one
    lines_in: int = 0
    blank_lines: int = 0  # of lines_in: skipped, neither a row nor quarantined
    notes: tuple[str, ...] = ()  # what ingestion repaired or renamed, in words


@dataclass
class TableLoad:
    table: str
    files: list[FileLoad]
    table_rows: int = 0  # rows in raw.<table> after the load
    # every row in raw_quarantine.<table> after the load, by reason (this run's files or not)
    table_quarantine: Counter[str] = field(default_factory=Counter)

    def total(self, attribute: str) -> int:
        return sum(getattr(f, attribute) for f in self.files)

    @property
    def reasons(self) -> Counter[str]:
        return sum((f.reasons for f in self.files), Counter())

    @property
    def rejected(self) -> list[FileLoad]:
        return [f for f in self.files if f.status == "rejected"]

    @property
    def extra_columns(self) -> list[str]:
        return sorted({c for f in self.files for c in f.extra_columns})


def known_currencies() -> list[str]:
    with CURRENCY_RATES_SEED.open(newline="") as f:
        return sorted(row["currency"] for row in csv.DictReader(f))


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _typed(col: Column) -> str:
    """SQL that turns the text of a column into its contract type, or NULL if it cannot (out of
    the type's range included: one value must never stop a file, let alone a table). Identifiers
    are normalised (nextsale.identifiers)."""
    sql_type = col.type
    if col.identifier:
        return identifier_sql(quote(col.name), col.identifier)
    value = f"nullif(trim({quote(col.name)}), '')"
    if sql_type == INT:  # try_cast would round '1.5' to 2
        return f"case when {_WHOLE_NUMBER.format(value=value)} then try_cast({value} as {INT}) end"
    if sql_type == BOOL:
        return f"try_cast(lower({value}) as {BOOL})"
    if sql_type == TEXT:
        return value
    return f"try_cast({value} as {sql_type})"


_WHOLE_NUMBER = "regexp_full_match({value}, '[+-]?[0-9]+')"
_TYPE_LABELS = {TIMESTAMP: "an ISO-8601 timestamp", BOOL: "true/false", INT: "a whole number"}


def _out_of_range(value: str, sql_type: str) -> str:
    """SQL: the text is a number, but not one the type can hold."""
    if sql_type == INT:
        return _WHOLE_NUMBER.format(value=value)
    if sql_type in (TIMESTAMP, BOOL):
        return "false"
    return f"try_cast({value} as DOUBLE) is not null"


def typed_name(column: str) -> str:
    """The column that holds a landing column's typed value while a file is checked."""
    return quote(TYPED_PREFIX + column)


def _row_reasons(contract: Contract, currencies: list[str], loaded_at: datetime) -> list[str]:
    """One SQL expression per rule over the text columns and their typed values (typed_name);
    each yields a reason text or NULL."""
    reasons = []
    latest = _literal((loaded_at + FUTURE_TOLERANCE).isoformat())
    for col in contract.columns:
        raw = f"nullif(trim({quote(col.name)}), '')"
        typed = typed_name(col.name)
        if col.not_null:  # an identifier of invisible characters only is missing too
            present = typed if col.identifier else raw
            reasons.append(f"case when {present} is null then 'missing {col.name}' end")
        if col.type != TEXT:
            label = _TYPE_LABELS.get(col.type, "a number")
            reasons.append(
                f"case when {raw} is not null and {typed} is null then 'bad {col.name}: ' || "
                f"case when {_out_of_range(raw, col.type)} then 'out of range for {col.type}: ' "
                f"else {_literal(f'not {label}: ')} end || {raw} end"
            )
        if col.check:
            check = col.check.format(col=typed)
            reasons.append(
                f"case when {typed} is not null and not ({check}) then "
                f"'bad {col.name}: ' || {_literal(col.reason or 'fails ' + col.check)} end"
            )
        if col.type == MONEY:
            reasons.append(
                f"case when abs({typed}) > {MAX_AMOUNT} then 'bad {col.name}: beyond "
                f"{MAX_AMOUNT:,} (contracts.MAX_AMOUNT): ' || {raw} end"
            )
        if col.type == TIMESTAMP:
            reasons.append(
                f"case when {typed} < {_literal(EARLIEST_TIMESTAMP)} then 'bad {col.name}: before "
                f"{EARLIEST_TIMESTAMP} (contracts.EARLIEST_TIMESTAMP): ' || {raw} end"
            )
            if not col.may_be_future:
                reasons.append(
                    f"case when {typed} > {latest} then 'bad {col.name}: in the future (later "
                    f"than the load plus {FUTURE_TOLERANCE.days} day, contracts.FUTURE_TOLERANCE): "
                    f"' || {raw} end"
                )
    typed_columns = {c.name: typed_name(c.name) for c in contract.columns}
    for check, reason in contract.row_checks:
        reasons.append(
            f"case when not coalesce({check.format(**typed_columns)}, true) "
            f"then {_literal(reason)} end"
        )
    if contract.table == "shop_orders":
        allowed = ", ".join(_literal(c) for c in currencies)
        reasons.append(
            f"case when {quote('currency')} is not null and upper(trim({quote('currency')})) "
            f"not in ({allowed}) then 'bad currency: unknown currency ' || {quote('currency')} end"
        )
    return reasons


def _open_text(path: Path) -> io.TextIOBase:
    """The file as text; a byte-order mark is not part of the first column's name."""
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def csv_header(path: Path, label: str) -> list[str]:
    try:
        with _open_text(path) as f:
            header = next(csv.reader(f), None)
    except UnicodeDecodeError as e:
        raise LandingFileError(f"{label}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    except (OSError, EOFError, csv.Error) as e:
        raise LandingFileError(f"{label}: unreadable file ({e})") from e
    if not header or not any(h.strip() for h in header):
        raise LandingFileError(f"{label}: empty file (no header row)")
    return header


def _column_names(names: list[str], label: str) -> tuple[list[str], list[str]]:
    """Landing names as columns: trimmed and lower case, a name for an empty header cell, and a
    new name for one that collides with a bookkeeping column. Returns (names, notes); names
    that are the same once trimmed and in lower case reject the file."""
    columns, notes = [], []
    for position, name in enumerate(names, start=1):
        column = name.strip().lower()
        if not column:
            column = f"unnamed_{position}"
        elif column in BOOKKEEPING_COLUMNS or column.startswith(TYPED_PREFIX):
            notes.append(f"column {column} kept as landing{column} (a bookkeeping column's name)")
            column = f"landing{column}"
        columns.append(column)
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise LandingFileError(f"{label}: duplicate column(s) {', '.join(duplicated)}")
    return columns, notes


def _record_lines(columns: list[str]) -> str:
    """SQL: the physical lines a parsed CSV record spans (its quoted line breaks plus one)."""
    text = "concat_ws('', " + ", ".join(quote(c) for c in columns) + ")"
    return f"1 + length({text}) - length(replace({text}, chr(10), ''))"


def _stage_csv(
    con: duckdb.DuckDBPyConnection, path: Path, label: str, expected_lines: int
) -> tuple[list[str], list[str], int]:
    """Read a CSV file as text into `_landing`, and its unparseable lines into `_landing_rejects`.
    Returns the column names, notes on them and the physical lines the parser accounted for
    (of `expected_lines`, the non-blank lines counted in the file)."""
    header, notes = _column_names(csv_header(path, label), label)
    columns = "{" + ", ".join(f"{_literal(h)}: 'VARCHAR'" for h in header) + "}"
    con.execute(
        "drop table if exists _landing_reject_errors; drop table if exists _landing_reject_scans"
    )
    con.execute(
        f"""
        create or replace temp table _landing as
        select *, row_number() over () as _row_number
        from read_csv({_literal(str(path))}, columns = {columns}, header = true, delim = ',',
                      quote = '"', escape = '"', auto_detect = false, store_rejects = true,
                      rejects_table = '_landing_reject_errors',
                      rejects_scan = '_landing_reject_scans', parallel = false)
        """
    )
    con.execute(
        """
        create or replace temp table _landing_rejects as
        select line as _row_number, min(csv_line) as _raw_line,
               'unparseable CSV line: ' || min(error_message) as _reason
        from _landing_reject_errors
        group by line  -- one error row per missing column; one quarantined row per line
        """
    )
    # every record is at least one line: when records and rejected lines alone make up the
    # file's lines, no record can span more, and its quoted line breaks need no counting
    (rejected_lines,) = con.execute(
        f"select coalesce(sum({_record_lines(['_raw_line'])}), 0) from _landing_rejects"
    ).fetchall()[0]
    lines = _count(con, "_landing")
    if 1 + lines + rejected_lines != expected_lines:
        (lines,) = con.execute(
            f"select coalesce(sum({_record_lines(header)}), 0) from _landing"
        ).fetchall()[0]
    return header, notes, 1 + int(lines) + int(rejected_lines)  # the header is a line too


def _stage_jsonl(
    con: duckdb.DuckDBPyConnection, path: Path, label: str
) -> tuple[list[str], list[str], int]:
    """Read JSON lines as text, one row per line; blank lines are skipped and malformed lines
    become rejects. Returns the keys and the physical lines the reader returned."""
    try:
        with _open_text(path) as f:
            f.read(1 << 16)
    except UnicodeDecodeError as e:
        raise LandingFileError(f"{label}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    con.execute(
        f"""
        create or replace temp table _landing_lines as
        select row_number() over () as _row_number, line,
               -- json functions raise on invalid text: give them NULL instead
               coalesce(json_type(case when json_valid(line) then line end) = 'OBJECT', false)
                   as is_object
        from read_csv({_literal(str(path))}, columns = {{'line': 'VARCHAR'}}, header = false,
                      delim = E'\\x1f', quote = '', escape = '', auto_detect = false,
                      strict_mode = false, parallel = false)
        """
    )
    keys = [
        r[0]
        for r in con.execute(
            "select distinct unnest(json_keys(case when is_object then line end)) as k "
            "from _landing_lines order by k"
        ).fetchall()
    ]
    if not keys:
        raise LandingFileError(f"{label}: empty file (no JSON objects)")
    names, notes = _column_names(keys, label)
    # one parse per line for all keys (a list of paths), not one per key: 4x faster on events
    paths = "[" + ", ".join(_literal("$." + json_key(k)) for k in keys) + "]"
    fields = ", ".join(f"value[{i}] as {quote(n)}" for i, n in enumerate(names, start=1))
    con.execute(
        f"""create or replace temp table _landing as
        select {fields}, _row_number
        from (select json_extract_string(line, {paths}) as value, _row_number
              from _landing_lines where is_object)"""
    )
    con.execute(
        f"""
        create or replace temp table _landing_rejects as
        select _row_number, line as _raw_line, 'malformed JSON line' as _reason
        from _landing_lines where not is_object and not {_BLANK_LINE}
        """
    )
    return names, notes, _count(con, "_landing_lines")


def _stage_json_objects(
    con: duckdb.DuckDBPyConnection, path: Path, label: str, lines: int
) -> tuple[list[str], list[str], int] | None:
    """The clean JSON lines file's way: DuckDB's parallel JSON readers, once for the keys and
    once for every value as text, in file order. None when a line is not a JSON object or the
    rows it returns are not the file's lines: the line-by-line way then restages the file and
    quarantines each such line."""
    file = _literal(str(path))
    read = f"read_json({file}, format = 'newline_delimited', records = true"
    try:
        # the keys of every line (5x faster than read_json's own detection over the whole file)
        keys = sorted(
            r[0]
            for r in con.execute(
                f"select distinct unnest(json_keys(json)) from read_ndjson_objects({file})"
            ).fetchall()
        )
        if not keys:
            return None
        names, notes = _column_names(keys, label)
        types = "{" + ", ".join(f"{_literal(k)}: 'VARCHAR'" for k in keys) + "}"
        fields = ", ".join(f"{quote(k)} as {quote(n)}" for k, n in zip(keys, names, strict=True))
        con.execute(
            f"""create or replace temp table _landing as
            select {fields}, row_number() over () as _row_number
            from {read}, columns = {types})"""
        )
    except duckdb.Error:
        return None
    if _count(con, "_landing") != lines:
        return None
    _no_rejects(con)
    return names, notes, lines


# an empty line reads as NULL; a regex, unlike trim, stops at the first character that is not
# white space (trim over every line cost more than parsing the JSON)
_BLANK_LINE = "(line is null or regexp_full_match(line, '[ \\t\\r]*'))"


def json_key(key: str) -> str:
    return '"' + key.replace('"', '\\"') + '"'


def _stage_parquet(
    con: duckdb.DuckDBPyConnection, path: Path, label: str
) -> tuple[list[str], list[str]]:
    try:
        names = [
            r[0]
            for r in con.execute(
                f"describe select * from read_parquet({_literal(str(path))})"
            ).fetchall()
        ]
        footer_rows = pq.ParquetFile(path).metadata.num_rows  # counted apart from DuckDB
    except (duckdb.Error, OSError, ValueError) as e:
        raise LandingFileError(f"{label}: unreadable Parquet file ({e})") from e
    columns, notes = _column_names(names, label)
    fields = ", ".join(
        f"cast({quote(n)} as varchar) as {quote(c)}" for n, c in zip(names, columns, strict=True)
    )
    con.execute(
        f"create or replace temp table _landing as select {fields}, row_number() over () as _row_number "
        f"from read_parquet({_literal(str(path))})"
    )
    _no_rejects(con)
    (read,) = con.execute("select count(*) from _landing").fetchall()[0]
    if read != footer_rows:
        raise LandingFileError(
            f"{label}: the Parquet footer says {footer_rows} rows but {read} could be read"
        )
    return columns, notes


def _no_rejects(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "create or replace temp table _landing_rejects as "
        "select 0::bigint as _row_number, ''::varchar as _raw_line, ''::varchar as _reason limit 0"
    )


@dataclass
class _Staged:
    header: list[str]
    notes: list[str]
    lines_in: int  # the file's data lines, counted apart from the parser (header left out)
    blank_lines: int  # of those, blank ones: skipped, neither rows nor quarantined


def _stage_text(
    con: duckdb.DuckDBPyConnection,
    source: Path,
    label: str,
    is_csv: bool,
    lines: LineScan,
    repaired: RepairedFile | None,
) -> tuple[_Staged, str | None]:
    """Stage a CSV or JSON lines file (or its repaired copy) and reconcile the lines the parser
    returned with the lines counted in the file. Returns what was staged and the problem, if
    the two disagree."""
    stand_ins = len(repaired.rejects) if repaired else 0  # blank lines put in by the repair
    if is_csv:
        # the CSV reader skips blank lines, so they are the difference
        blank = repaired.blank_lines if repaired else lines.blank_lines
        expected = lines.lines - blank
        header, notes, accounted = _stage_csv(con, source, label, expected)
    else:
        expected = lines.lines  # the line reader returns every line, blank ones as NULL
        whole = (
            None
            if repaired or lines.blank_lines
            else _stage_json_objects(con, source, label, expected)
        )
        if whole:
            (header, notes, accounted), blank = whole, 0
        else:
            header, notes, accounted = _stage_jsonl(con, source, label)
            blank = _count(con, f"_landing_lines where {_BLANK_LINE}")
    if repaired:
        if repaired.rejects:
            con.executemany(
                "insert into _landing_rejects values (?, ?, ?)",
                [list(r) for r in repaired.rejects],
            )
        notes = [*repaired.notes, *notes]
    problem = None
    if accounted != expected:
        problem = (
            f"{label}: the file has {expected:,} non-blank lines but the parser accounted for "
            f"{accounted:,}"
        )
    data_lines = lines.lines - (1 if is_csv else 0)
    return _Staged(header, notes, data_lines, blank - stand_ins), problem


def _stage(
    con: duckdb.DuckDBPyConnection, path: Path, label: str, lines: LineScan, work: Path
) -> _Staged:
    """Stage the file into `_landing` / `_landing_rejects`, repairing what real exports get
    wrong, and prove that every line was accounted for; else raise LandingFileError."""
    if path.stat().st_size == 0:
        raise LandingFileError(f"{label}: empty file (0 bytes)")
    try:
        if path.name.endswith(".parquet"):
            header, notes = _stage_parquet(con, path, label)
            return _Staged(header, notes, _count(con, "_landing"), 0)
        is_csv = path.name.endswith((".csv", ".csv.gz"))
        repaired = None
        if lines.mixed_line_endings or lines.long_lines or (lines.bom and not is_csv):
            repaired = repair(path, label, lines, work)
        source = repaired.path if repaired else path
        staged, problem = _stage_text(con, source, label, is_csv, lines, repaired)
        if problem and is_csv:
            # the usual cause: a quote that opens and never closes swallows every line after it
            unclosed = unclosed_quote_line(source, label)
            if unclosed:
                repaired = repair(path, label, lines, work, unclosed_quote=unclosed)
                staged, problem = _stage_text(con, repaired.path, label, is_csv, lines, repaired)
        if problem:
            raise LandingFileError(f"{problem}; nothing of it was loaded")
    except duckdb.Error as e:
        raise LandingFileError(f"{label}: unreadable file ({str(e).splitlines()[0]})") from e
    return staged


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return con.execute(f"select count(*) from {table}").fetchall()[0][0]


def ensure_tables(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """Create the raw, quarantine and log tables, so that dbt sources exist even with no files."""
    con.execute(f"create schema if not exists {RAW}; create schema if not exists {QUARANTINE}")
    typed = ", ".join(f"{quote(c.name)} {c.type}" for c in contract.columns)
    text = ", ".join(f"{quote(c.name)} VARCHAR" for c in contract.columns)
    meta = "_source_file VARCHAR, _row_number BIGINT, _loaded_at TIMESTAMPTZ"
    con.execute(f"create table if not exists {RAW}.{contract.table} ({typed}, {meta})")
    con.execute(
        f"create table if not exists {QUARANTINE}.{contract.table} "
        f"({text}, _reason VARCHAR, _raw_line VARCHAR, {meta})"
    )
    # a contract that gained an optional column since the tables were made: add it, keep rows
    for c in contract.columns:
        con.execute(
            f"alter table {RAW}.{contract.table} add column if not exists {quote(c.name)} {c.type}"
        )
        con.execute(
            f"alter table {QUARANTINE}.{contract.table} add column if not exists {quote(c.name)} VARCHAR"
        )
    con.execute(
        f"""
        create table if not exists {FILE_LOG} (
            source_table VARCHAR, source_file VARCHAR, sha256 VARCHAR, status VARCHAR,
            rows_in BIGINT, rows_kept BIGINT, rows_quarantined BIGINT, extra_columns VARCHAR[],
            error VARCHAR, loaded_at TIMESTAMPTZ
        )
        """
    )
    # logs made before ingestion counted lines itself
    con.execute(f"alter table {FILE_LOG} add column if not exists lines_in BIGINT")
    con.execute(f"alter table {FILE_LOG} add column if not exists blank_lines BIGINT")
    con.execute(f"alter table {FILE_LOG} add column if not exists notes VARCHAR[]")


def _load_file(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    path: Path,
    label: str,
    lines: LineScan,
    currencies: list[str],
    loaded_at: datetime,
) -> FileLoad:
    with tempfile.TemporaryDirectory(prefix="nextsale-landing-") as work:
        staged = _stage(con, path, label, lines, Path(work))
    header, notes = staged.header, list(staged.notes)
    missing = [c.name for c in contract.columns if c.required and c.name not in header]
    if missing:
        raise LandingFileError(f"{label}: missing required column(s) {', '.join(missing)}")
    for c in contract.columns:
        if c.name not in header:
            con.execute(f"alter table _landing add column {quote(c.name)} VARCHAR")
    for unnamed in [h for h in header if h.startswith("unnamed_")]:
        # an export's trailing comma: a column with neither a name nor a value
        if not _count(con, f"_landing where nullif(trim({quote(unnamed)}), '') is not null"):
            con.execute(f"alter table _landing drop column {quote(unnamed)}")
            header.remove(unnamed)
            notes.append(f"{unnamed}, with no header and no values, left out")
    extras = tuple(h for h in header if h not in contract.column_names)
    for extra in extras:  # schema drift: keep the column, report it
        for schema in (RAW, QUARANTINE):
            con.execute(
                f"alter table {schema}.{contract.table} add column if not exists {quote(extra)} VARCHAR"
            )

    all_columns = [*contract.column_names, *extras]
    text_columns = ", ".join(quote(c) for c in all_columns)
    # exact duplicates: rows with the same text in every column. Rows are grouped by a hash
    # of it first, and only those whose hash repeats are compared column by column.
    con.execute(
        f"""
        create or replace temp table _duplicates as
        select _row_number, min(_row_number) over (partition by {text_columns}) as _first_row
        from _landing
        where hash({text_columns}) in (
            select hash({text_columns}) from _landing group by 1 having count(*) > 1)
        """
    )
    # every typed value once: the rules read them and the kept rows are written from them
    typed = ", ".join(f"{_typed(c)} as {typed_name(c.name)}" for c in contract.columns)
    rules = ", ".join(_row_reasons(contract, currencies, loaded_at))
    con.execute(
        f"""
        create or replace temp table _checked as
        select *, nullif(concat_ws('; ', {rules},
                   case when _first_row < _row_number
                        then 'exact duplicate: same as row ' || _first_row end), '') as _reason
        from (select _landing.*, _duplicates._first_row, {typed}
              from _landing left join _duplicates using (_row_number))
        """
    )
    source, now = _literal(label), _literal(loaded_at.isoformat())
    kept_values = ", ".join(f"{typed_name(c.name)} as {quote(c.name)}" for c in contract.columns)
    extra_sql = "".join(f", {quote(e)}" for e in extras)
    table = contract.table
    con.execute(f"delete from {RAW}.{table} where _source_file = {source}")
    con.execute(f"delete from {QUARANTINE}.{table} where _source_file = {source}")
    con.execute(
        f"""insert into {RAW}.{table} by name
        select {kept_values}{extra_sql}, {source} as _source_file, _row_number, {now} as _loaded_at
        from _checked where _reason is null"""
    )
    con.execute(
        f"""insert into {QUARANTINE}.{table} by name
        select {text_columns}, _reason, null as _raw_line, {source} as _source_file, _row_number,
               {now} as _loaded_at
        from _checked where _reason is not null
        union all by name
        select _reason, _raw_line, {source} as _source_file, _row_number, {now} as _loaded_at
        from _landing_rejects"""
    )
    rows_in = _count(con, "_landing") + _count(con, "_landing_rejects")
    kept = _count(con, f"{RAW}.{table} where _source_file = {source}")
    reasons = Counter(
        {
            reason: n
            for reason, n in con.execute(
                f"""select regexp_extract(_reason, '^([^:;]+)', 1) as reason, count(*)
                from {QUARANTINE}.{table} where _source_file = {source} group by all"""
            ).fetchall()
        }
    )
    quarantined = sum(reasons.values())
    if rows_in != kept + quarantined:
        raise LandingFileError(
            f"{label}: {rows_in} rows in but {kept} kept + {quarantined} quarantined; nothing "
            "of it was loaded"
        )
    return FileLoad(
        label,
        "loaded",
        rows_in,
        kept,
        quarantined,
        reasons,
        extras,
        lines_in=staged.lines_in,
        blank_lines=staged.blank_lines,
        notes=tuple(notes),
    )


def _log(
    con: duckdb.DuckDBPyConnection, table: str, sha: str, result: FileLoad, loaded_at: datetime
) -> None:
    con.execute(
        f"delete from {FILE_LOG} where source_table = ? and source_file = ?", [table, result.file]
    )
    con.execute(
        f"""insert into {FILE_LOG} by name select ? as source_table, ? as source_file,
            ? as sha256, ? as status, ? as rows_in, ? as rows_kept, ? as rows_quarantined,
            ? as extra_columns, ? as error, ? as loaded_at, ? as lines_in, ? as blank_lines,
            ? as notes""",
        [
            table,
            result.file,
            sha,
            result.status,
            result.rows_in,
            result.rows_kept,
            result.rows_quarantined,
            list(result.extra_columns),
            result.error,
            loaded_at,
            result.lines_in,
            result.blank_lines,
            list(result.notes),
        ],
    )


def _unexpected(label: str, error: Exception) -> str:
    first_line = (str(error).splitlines() or [""])[0]
    return f"{label}: could not be loaded ({type(error).__name__}: {first_line})"


def ingest_table(duckdb_path: Path, contract: Contract, landing_dir: Path) -> TableLoad:
    """Load every landing file of one contract; returns what happened to each file. A file that
    cannot be loaded, for whatever reason, is rejected by name and the others still load."""
    currencies = known_currencies()
    loaded_at = datetime.now(UTC)
    with connect_duckdb(duckdb_path) as con:
        con.execute("set TimeZone = 'UTC'")
        con.execute("set enable_progress_bar = false")  # a batch job: it would flood the log
        register(con)
        ensure_tables(con, contract)
        provenance.record(con, landing_dir)
        files = [(p, p.relative_to(landing_dir).as_posix()) for p in contract.files(landing_dir)]
        # one thread reads ahead (sha256 and line counts, which release the GIL on big blocks)
        # while DuckDB loads the file before: the two overlap instead of taking turns
        with ThreadPoolExecutor(max_workers=1) as reader:
            scans = [reader.submit(_scan, path, label) for path, label in files]
            results = _load_files(con, contract, files, scans, currencies, loaded_at)
        table_rows = _count(con, f"{RAW}.{contract.table}")
        quarantined = quarantine_reasons(con, contract.table)
    return TableLoad(contract.table, results, table_rows, quarantined)


def _scan(path: Path, label: str) -> tuple[LineScan | None, str | None]:
    """The file's scan, or why it could not be read."""
    try:
        return scan(path, label), None
    except LandingFileError as e:
        return None, str(e)
    except OSError as e:
        return None, _unexpected(label, e)


def _load_files(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    files: list[tuple[Path, str]],
    scans: list[Future],
    currencies: list[str],
    loaded_at: datetime,
) -> list[FileLoad]:
    """Load each file in its own transaction, in order; a file's failure rejects it alone."""
    results = []
    for (path, label), scanned in zip(files, scans, strict=True):
        lines, error = scanned.result()
        if lines is not None:
            already = con.execute(
                f"select 1 from {FILE_LOG} where source_table = ? and source_file = ? "
                "and sha256 = ? and status = 'loaded'",
                [contract.table, label, lines.sha256],
            ).fetchall()
            if already:
                results.append(FileLoad(label, "unchanged"))
                continue
            con.execute("begin transaction")
            try:
                result = _load_file(con, contract, path, label, lines, currencies, loaded_at)
            except Exception as e:  # noqa: BLE001 - one file's failure must not stop the table
                con.execute("rollback")
                error = str(e) if isinstance(e, LandingFileError) else _unexpected(label, e)
                result = FileLoad(label, "rejected", error=error)
                con.execute("begin transaction")
        else:
            result = FileLoad(label, "rejected", error=error)
            con.execute("begin transaction")
        _log(con, contract.table, lines.sha256 if lines else "", result, loaded_at)
        con.execute("commit")
        results.append(result)
    return results


def quarantine_reasons(con: duckdb.DuckDBPyConnection, table: str) -> Counter[str]:
    """Rows in raw_quarantine.<table> by reason (its first clause: the rule, not the value)."""
    return Counter(
        dict(
            con.execute(
                f"select regexp_extract(_reason, '^([^:;]+)', 1), count(*) "
                f"from {QUARANTINE}.{quote(table)} group by 1"
            ).fetchall()
        )
    )


def reconcile(duckdb_path: Path, contract: Contract) -> list[str]:
    """Files whose logged rows-in differ from the rows now in raw + quarantine (empty = fine)."""
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        rows = con.execute(
            f"""
            with kept as (select _source_file, count(*) as n from {RAW}.{contract.table} group by 1),
                 quarantined as (
                    select _source_file, count(*) as n from {QUARANTINE}.{contract.table} group by 1)
            select l.source_file, l.rows_in, coalesce(k.n, 0), coalesce(q.n, 0)
            from {FILE_LOG} l
            left join kept k on k._source_file = l.source_file
            left join quarantined q on q._source_file = l.source_file
            where l.source_table = ? and l.status = 'loaded'
              and l.rows_in <> coalesce(k.n, 0) + coalesce(q.n, 0)
            """,
            [contract.table],
        ).fetchall()
    return [f"{f}: {i} rows in, {k} kept + {q} quarantined" for f, i, k, q in rows]
