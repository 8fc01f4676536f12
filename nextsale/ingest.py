"""Load landing files into `raw.<table>`, quarantining what breaks the contract (DESIGN §3).

DuckDB does the reading (its CSV reader records lines it cannot parse; JSON lines are read one
line per row and parsed in SQL) and the typing (`try_cast`); the rules come from
`nextsale.contracts`. Each file is loaded in one transaction:

* a file already loaded with the same content (sha256) is skipped, so reloading changes nothing;
  a file re-delivered under the same name with new content replaces its earlier rows;
* a file-level problem (missing required column, empty or undecodable file) loads nothing of that
  file and is recorded with its reason, while the other files still load;
* every row lands either in `raw.<table>` or in `raw_quarantine.<table>` with a reason, and the
  counts are reconciled (rows in = kept + quarantined) before the transaction commits;
* columns the contract does not know are kept (as text) and reported.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from nextsale.config import CURRENCY_RATES_SEED
from nextsale.contracts import BOOL, INT, TEXT, TIMESTAMP, Contract

RAW, QUARANTINE = "raw", "raw_quarantine"
FILE_LOG = f"{RAW}._file_loads"
META_COLUMNS = ("_source_file", "_row_number", "_loaded_at")


class LandingFileError(ValueError):
    """A file that cannot be loaded at all; the message names the file and the problem."""


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


@dataclass
class TableLoad:
    table: str
    files: list[FileLoad]
    table_rows: int = 0  # rows in raw.<table> after the load

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


def _typed(column: str, sql_type: str) -> str:
    """SQL that turns the text of `column` into its contract type, or NULL if it cannot."""
    value = f"nullif(trim({quote(column)}), '')"
    if sql_type == INT:  # try_cast would round '1.5' to 2
        return (
            f"case when regexp_full_match({value}, '[+-]?[0-9]+') then cast({value} as {INT}) end"
        )
    if sql_type == BOOL:
        return f"try_cast(lower({value}) as {BOOL})"
    if sql_type == TEXT:
        return value
    return f"try_cast({value} as {sql_type})"


_TYPE_LABELS = {TIMESTAMP: "an ISO-8601 timestamp", BOOL: "true/false", INT: "a whole number"}


def _row_reasons(contract: Contract, currencies: list[str]) -> list[str]:
    """One SQL expression per rule; each yields a reason text or NULL."""
    reasons = []
    for col in contract.columns:
        raw = f"nullif(trim({quote(col.name)}), '')"
        typed = _typed(col.name, col.type)
        if col.not_null:
            reasons.append(f"case when {raw} is null then 'missing {col.name}' end")
        if col.type != TEXT:
            label = _TYPE_LABELS.get(col.type, "a number")
            reasons.append(
                f"case when {raw} is not null and {typed} is null then "
                f"'bad {col.name}: ' || {_literal(f'not {label}: ')} || {raw} end"
            )
        if col.check:
            check = col.check.format(col=typed)
            reasons.append(
                f"case when {typed} is not null and not ({check}) then "
                f"'bad {col.name}: ' || {_literal(col.reason or 'fails ' + col.check)} end"
            )
    if contract.table == "shop_orders":
        allowed = ", ".join(_literal(c) for c in currencies)
        reasons.append(
            f"case when {quote('currency')} is not null and upper(trim({quote('currency')})) "
            f"not in ({allowed}) then 'bad currency: unknown currency ' || {quote('currency')} end"
        )
    return reasons


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _csv_header(path: Path, label: str) -> list[str]:
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


def _stage_csv(con: duckdb.DuckDBPyConnection, path: Path, label: str) -> list[str]:
    """Read a CSV file as text into `_landing`, and its unparseable lines into `_landing_rejects`."""
    header = [h.strip().lower() for h in _csv_header(path, label)]
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
    return header


def _stage_jsonl(con: duckdb.DuckDBPyConnection, path: Path, label: str) -> list[str]:
    """Read JSON lines as text, one row per non-blank line; malformed lines become rejects."""
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
        where nullif(trim(line), '') is not null
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
    # one parse per line for all keys (a list of paths), not one per key: 4x faster on events
    paths = "[" + ", ".join(_literal("$." + json_key(k)) for k in keys) + "]"
    fields = ", ".join(
        f"value[{i}] as {quote(k.strip().lower())}" for i, k in enumerate(keys, start=1)
    )
    con.execute(
        f"""create or replace temp table _landing as
        select {fields}, _row_number
        from (select json_extract_string(line, {paths}) as value, _row_number
              from _landing_lines where is_object)"""
    )
    con.execute(
        """
        create or replace temp table _landing_rejects as
        select _row_number, line as _raw_line, 'malformed JSON line' as _reason
        from _landing_lines where not is_object
        """
    )
    return [k.strip().lower() for k in keys]


def json_key(key: str) -> str:
    return '"' + key.replace('"', '\\"') + '"'


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path, label: str) -> list[str]:
    try:
        names = [
            r[0]
            for r in con.execute(
                f"describe select * from read_parquet({_literal(str(path))})"
            ).fetchall()
        ]
    except duckdb.Error as e:
        raise LandingFileError(f"{label}: unreadable Parquet file ({e})") from e
    fields = ", ".join(f"cast({quote(n)} as varchar) as {quote(n.strip().lower())}" for n in names)
    con.execute(
        f"create or replace temp table _landing as select {fields}, row_number() over () as _row_number "
        f"from read_parquet({_literal(str(path))})"
    )
    con.execute(
        "create or replace temp table _landing_rejects as "
        "select 0::bigint as _row_number, ''::varchar as _raw_line, ''::varchar as _reason limit 0"
    )
    return [n.strip().lower() for n in names]


def _stage(con: duckdb.DuckDBPyConnection, path: Path, label: str) -> list[str]:
    name = path.name
    if path.stat().st_size == 0:
        raise LandingFileError(f"{label}: empty file (0 bytes)")
    try:
        if name.endswith((".csv", ".csv.gz")):
            return _stage_csv(con, path, label)
        if name.endswith(".parquet"):
            return _stage_parquet(con, path, label)
        return _stage_jsonl(con, path, label)
    except duckdb.Error as e:
        raise LandingFileError(f"{label}: unreadable file ({str(e).splitlines()[0]})") from e


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


def _load_file(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    path: Path,
    label: str,
    currencies: list[str],
    loaded_at: datetime,
) -> FileLoad:
    header = _stage(con, path, label)
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise LandingFileError(f"{label}: duplicate column(s) {', '.join(duplicated)}")
    missing = [c.name for c in contract.columns if c.required and c.name not in header]
    if missing:
        raise LandingFileError(f"{label}: missing required column(s) {', '.join(missing)}")
    for c in contract.columns:
        if c.name not in header:
            con.execute(f"alter table _landing add column {quote(c.name)} VARCHAR")
    extras = tuple(h for h in header if h not in contract.column_names)
    for extra in extras:  # schema drift: keep the column, report it
        for schema in (RAW, QUARANTINE):
            con.execute(
                f"alter table {schema}.{contract.table} add column if not exists {quote(extra)} VARCHAR"
            )

    all_columns = [*contract.column_names, *extras]
    partition = ", ".join(quote(c) for c in all_columns)
    rules = ", ".join(_row_reasons(contract, currencies))
    con.execute(
        f"""
        create or replace temp table _checked as
        select *, nullif(concat_ws('; ', {rules},
                   case when _first_row < _row_number
                        then 'exact duplicate: same as row ' || _first_row end), '') as _reason
        from (select *, min(_row_number) over (partition by {partition}) as _first_row from _landing)
        """
    )
    source, now = _literal(label), _literal(loaded_at.isoformat())
    typed = ", ".join(f"{_typed(c.name, c.type)} as {quote(c.name)}" for c in contract.columns)
    extra_sql = "".join(f", {quote(e)}" for e in extras)
    text_columns = ", ".join(quote(c) for c in all_columns)
    table = contract.table
    con.execute(f"delete from {RAW}.{table} where _source_file = {source}")
    con.execute(f"delete from {QUARANTINE}.{table} where _source_file = {source}")
    con.execute(
        f"""insert into {RAW}.{table} by name
        select {typed}{extra_sql}, {source} as _source_file, _row_number, {now} as _loaded_at
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
    rows_in = con.execute(
        "select (select count(*) from _landing) + (select count(*) from _landing_rejects)"
    ).fetchall()[0][0]
    kept = con.execute(
        f"select count(*) from {RAW}.{table} where _source_file = {source}"
    ).fetchall()[0][0]
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
        raise RuntimeError(
            f"{label}: {rows_in} rows in but {kept} kept + {quarantined} quarantined"
        )
    return FileLoad(label, "loaded", rows_in, kept, quarantined, reasons, extras)


def ingest_table(duckdb_path: Path, contract: Contract, landing_dir: Path) -> TableLoad:
    """Load every landing file of one contract; returns what happened to each file."""
    currencies = known_currencies()
    loaded_at = datetime.now(UTC)
    results = []
    with duckdb.connect(str(duckdb_path)) as con:
        con.execute("set TimeZone = 'UTC'")
        con.execute("set enable_progress_bar = false")  # a batch job: it would flood the log
        ensure_tables(con, contract)
        for path in contract.files(landing_dir):
            label = path.relative_to(landing_dir).as_posix()
            sha = _file_sha256(path)
            already = con.execute(
                f"select 1 from {FILE_LOG} where source_table = ? and source_file = ? and sha256 = ? "
                "and status = 'loaded'",
                [contract.table, label, sha],
            ).fetchall()
            if already:
                results.append(FileLoad(label, "unchanged"))
                continue
            con.execute("begin transaction")
            try:
                result = _load_file(con, contract, path, label, currencies, loaded_at)
            except LandingFileError as e:
                con.execute("rollback")
                result = FileLoad(label, "rejected", error=str(e))
                con.execute("begin transaction")
            con.execute(
                f"delete from {FILE_LOG} where source_table = ? and source_file = ?",
                [contract.table, label],
            )
            con.execute(
                f"insert into {FILE_LOG} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    contract.table,
                    label,
                    sha,
                    result.status,
                    result.rows_in,
                    result.rows_kept,
                    result.rows_quarantined,
                    list(result.extra_columns),
                    result.error,
                    loaded_at,
                ],
            )
            con.execute("commit")
            results.append(result)
        table_rows = con.execute(f"select count(*) from {RAW}.{contract.table}").fetchall()[0][0]
    return TableLoad(contract.table, results, table_rows)


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
