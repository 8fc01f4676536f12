"""Faults real exports contain: every line of every file is kept, quarantined with a reason, or
its file is rejected by name while the table's other files load.

Each case writes one faulty file beside a good one and knows, by construction, how many records
it wrote: that count is the independent one that kept + quarantined must equal.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nextsale.contracts import CONTRACTS, CONTRACTS_BY_TABLE
from nextsale.identifiers import EMAIL, ID, identifier_sql, normalize_identifier, register
from nextsale.ingest import ingest_table, reconcile
from nextsale.landing_files import MAX_LINE_BYTES
from tests.support.landing import EVENT, ORDER_HEADER, write
from tests.support.warehouse import rows

ORDERS = CONTRACTS_BY_TABLE["shop_orders"]
EVENTS = CONTRACTS_BY_TABLE["web_events"]
LINES = CONTRACTS_BY_TABLE["shop_order_lines"]


def order(i: int, *, total: str = "10", created_at: str = "2025-01-01T10:00:00Z") -> str:
    return f"o{i},c{i},a{i}@b.com,{created_at},EUR,{total},0,0,{total},paid,false"


def orders_csv(n: int, header: str = ORDER_HEADER, newline: str = "\n") -> str:
    return newline.join([header, *(order(i) for i in range(1, n + 1))]) + newline


def events_jsonl(n: int, start: int = 1) -> str:
    return "".join(
        EVENT % (f"e{i}", "2025-01-01T10:00:00Z") + "\n" for i in range(start, start + n)
    )


@dataclass
class Case:
    table: str
    name: str  # the faulty file
    content: Callable[[], bytes]
    records: int  # records written to the faulty file (blank lines are not records)
    rejected: str | None = None  # a part of the rejection message, when the file must be rejected
    kept: int | None = None  # when it must load: rows kept (the rest quarantined)
    reason: str | None = None  # a part of one quarantine reason
    note: str | None = None  # a part of a note the file's load carries


def _gz(text: str) -> bytes:
    return gzip.compress(text.encode())


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _bad_crc(data: bytes) -> bytes:
    return data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:]


def _with_order(line: str) -> Callable[[], bytes]:
    return lambda: (orders_csv(3) + line + "\n").encode()


def _parquet(n: int) -> bytes:
    table = pa.table(
        {
            column: [order(i).split(",")[k] for i in range(1, n + 1)]
            for k, column in enumerate(ORDER_HEADER.split(","))
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _unclosed_quote() -> bytes:
    lines = orders_csv(1000).splitlines()
    lines[3] = lines[3].replace("a3@b.com", '"a3@b.com')  # the third data row opens a quote
    return ("\n".join(lines) + "\n").encode()


def _late_closing_quote() -> bytes:
    lines = orders_csv(20).splitlines()
    lines[3] = lines[3].replace("a3@b.com", '"a3@b.com')
    lines[6] = lines[6].replace("a6@b.com", 'a6@b.com"')  # closes three lines later
    return ("\n".join(lines) + "\n").encode()


def _mixed_line_endings() -> bytes:
    later = "".join(order(i) + "\n" for i in range(6, 11))
    return (orders_csv(5, newline="\r\n") + later).encode()


def _long_line_csv() -> bytes:
    return _with_order(order(9, total="1" + "0" * 5) + "," + "x" * (MAX_LINE_BYTES + 10))()


def _long_line_jsonl() -> bytes:
    big = json.dumps({"event_id": "big", "page_path": "/" + "x" * (MAX_LINE_BYTES * 2)})
    return (events_jsonl(3) + big + "\n" + events_jsonl(2, start=4)).encode()


CASES = [
    # silent loss, now accounted for
    Case("shop_orders", "quote.csv", _unclosed_quote, 1000, kept=999, reason="never closes"),
    # RFC 4180 reads lines 4 to 7 as one record whose email holds three line breaks
    Case("shop_orders", "late_quote.csv", _late_closing_quote, 17, kept=17),
    Case(
        "shop_orders",
        "cut.csv.gz",
        lambda: _truncated(_gz(orders_csv(2000))),
        2000,
        rejected="truncated gzip",
    ),
    Case(
        "web_events",
        "cut.jsonl.gz",
        lambda: _truncated(_gz(events_jsonl(3000))),
        3000,
        rejected="truncated gzip",
    ),
    Case(
        "shop_orders",
        "crc.csv.gz",
        lambda: _bad_crc(_gz(orders_csv(50))),
        50,
        rejected="corrupt gzip",
    ),
    Case(
        "shop_orders", "not-gzip.csv.gz", lambda: orders_csv(5).encode(), 5, rejected="corrupt gzip"
    ),
    Case("shop_orders", "footer.parquet", lambda: _parquet(7)[:-20], 7, rejected="Parquet"),
    # what real exports contain
    Case("shop_orders", "bom.csv", lambda: b"\xef\xbb\xbf" + orders_csv(4).encode(), 4, kept=4),
    Case(
        "web_events",
        "bom.jsonl",
        lambda: b"\xef\xbb\xbf" + events_jsonl(4).encode(),
        4,
        kept=4,
        note="byte-order mark",
    ),
    Case("shop_orders", "mixed.csv", _mixed_line_endings, 10, kept=10, note="line endings"),
    Case(
        "web_events",
        "mixed.jsonl",
        lambda: events_jsonl(3).replace("\n", "\r\n").encode() + events_jsonl(3, 4).encode(),
        6,
        kept=6,
        note="line endings",
    ),
    Case(
        "shop_orders",
        "excel.csv",
        lambda: orders_csv(3).replace("\n", ",\n").encode(),
        3,
        kept=3,
        note="unnamed_12",
    ),
    Case(
        "shop_orders",
        "case.csv",
        lambda: orders_csv(
            3, header=" Order_ID ," + ORDER_HEADER.upper().split(",", 1)[1]
        ).encode(),
        3,
        kept=3,
    ),
    Case(
        "shop_orders",
        "twice.csv",
        lambda: (
            orders_csv(2, header=ORDER_HEADER + ", EMAIL").replace("false\n", "false,x\n").encode()
        ),
        2,
        rejected="duplicate column(s) email",
    ),
    Case("shop_orders", "long.csv", _long_line_csv, 4, kept=3, reason="line too long"),
    Case("web_events", "long.jsonl", _long_line_jsonl, 6, kept=5, reason="line too long"),
    Case(
        "shop_orders",
        "blank.csv",
        # a line of spaces is a record, and not a valid one
        lambda: (orders_csv(3).replace("\n", "\n\n", 2) + "   \n" + order(4)).encode(),
        5,
        kept=4,
        reason="unparseable",
    ),
    Case(
        "web_events",
        "blank.jsonl",
        lambda: (events_jsonl(2) + "\n  \n\r\n" + events_jsonl(1, 3)).encode(),
        3,
        kept=3,
    ),
    Case(
        "shop_orders",
        "multiline.csv",
        _with_order('o9,c9,"a9@b.com",2025-01-01T10:00:00Z,EUR,10,0,0,10,paid,"fal\nse"'),
        4,
        kept=3,
        reason="bad is_test",
    ),
    Case("shop_orders", "orders.parquet", lambda: _parquet(7), 7, kept=7),
    # values that stopped a table or the build
    Case(
        "shop_orders",
        "huge_total.csv",
        _with_order(order(9, total="1" + "0" * 30)),
        4,
        kept=3,
        reason="out of range",
    ),
    Case(
        "shop_orders",
        "billion.csv",
        _with_order(order(9, total="2000000000")),
        4,
        kept=3,
        reason="MAX_AMOUNT",
    ),
    Case("shop_orders", "hundred_million.csv", _with_order(order(9, total="100000000")), 4, kept=4),
    Case(
        "shop_orders",
        "future.csv",
        _with_order(order(9, created_at="2099-01-01T00:00:00Z")),
        4,
        kept=3,
        reason="future",
    ),
    Case(
        "shop_orders",
        "year_9999.csv",
        _with_order(order(9, created_at="9999-12-31T00:00:00Z")),
        4,
        kept=3,
        reason="future",
    ),
    Case(
        "shop_orders",
        "epoch.csv",
        _with_order(order(9, created_at="1970-01-01T00:00:00Z")),
        4,
        kept=3,
        reason="EARLIEST_TIMESTAMP",
    ),
    Case(
        "shop_order_lines",
        "quantity.csv",
        lambda: (
            b"order_id,line_id,product_id,quantity,unit_price,discount\n"
            b"o1,1,P1,2,5,0\no1,2,P1,99999999999999999999,5,0\no1,3,P1,2000000,1,0\n"
        ),
        3,
        kept=1,
        reason="out of range",
    ),
    # names that collided with ingestion's own columns
    Case(
        "shop_orders",
        "bookkeeping.csv",
        lambda: (
            orders_csv(2, header=ORDER_HEADER + ",_source_file,_row_number,_reason")
            .replace("false\n", "false,x,y,z\n")
            .encode()
        ),
        2,
        kept=2,
        note="landing_source_file",
    ),
    Case(
        "web_events",
        "bookkeeping.jsonl",
        lambda: events_jsonl(2).replace('{"event_id"', '{"_row_number": 7, "event_id"').encode(),
        2,
        kept=2,
        note="landing_row_number",
    ),
]


GOOD_FILES = {  # a good file beside each faulty one: it must load whatever the other does
    "shop_orders": ("a-good.csv", orders_csv(2)),
    "web_events": ("a-good.jsonl", events_jsonl(2, start=900)),
    "shop_order_lines": (
        "a-good.csv",
        "order_id,line_id,product_id,quantity,unit_price,discount\no9,1,P1,1,1,0\n",
    ),
}


def _id(case: Case) -> str:
    return f"{case.table}/{case.name}"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_every_record_is_kept_quarantined_or_its_file_rejected_by_name(tmp_path, case):
    contract = CONTRACTS_BY_TABLE[case.table]
    landing, db = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    write(landing, contract.folder, *GOOD_FILES[case.table])
    write(landing, contract.folder, "b-" + case.name, case.content())

    load = ingest_table(db, contract, landing)

    good_file, faulty = load.files
    assert good_file.status == "loaded" and good_file.rows_kept > 0  # the other file still loads
    label = f"{contract.folder}/b-{case.name}"
    if case.rejected:
        assert faulty.status == "rejected"
        assert faulty.error.startswith(label + ": ") and case.rejected in faulty.error
        assert rows(
            db, f"select count(*) from raw.{case.table} where _source_file = '{label}'"
        ) == [(0,)]
    else:
        assert faulty.status == "loaded", faulty.error
        assert faulty.rows_kept + faulty.rows_quarantined == case.records
        assert faulty.rows_kept == case.kept
        reasons = [
            r[0]
            for r in rows(
                db,
                f"select _reason from raw_quarantine.{case.table} where _source_file = '{label}'",
            )
        ]
        if case.reason:
            assert any(case.reason in r for r in reasons), reasons
        if case.note:
            assert any(case.note in n for n in faulty.notes), faulty.notes
    assert reconcile(db, contract) == []


def test_a_line_count_that_does_not_reconcile_rejects_the_file(tmp_path, monkeypatch):
    """Whatever the parser loses, the independent count sees: the file is rejected by name."""
    import nextsale.ingest as ingest

    landing, db = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    write(landing, ORDERS.folder, "a.csv", orders_csv(3))
    real = ingest.scan
    monkeypatch.setattr(
        ingest, "scan", lambda path, label: _one_more_line(real(path, label))
    )  # as if the parser had lost a line
    (load,) = ingest_table(db, ORDERS, landing).files
    assert load.status == "rejected"
    assert "the file has 5 non-blank lines but the parser accounted for 4" in load.error


def _one_more_line(lines):
    lines.lines += 1
    return lines


def test_an_unexpected_error_rejects_only_that_file(tmp_path, monkeypatch):
    import nextsale.ingest as ingest

    landing, db = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    write(landing, ORDERS.folder, "a.csv", orders_csv(2))
    write(
        landing, ORDERS.folder, "b.csv", orders_csv(2).replace("o1,", "o3,").replace("o2,", "o4,")
    )
    real = ingest._stage

    def failing(con, path, label, lines, work):
        if path.name == "a.csv":
            raise duckdb.ConversionException("Conversion Error: something new")
        return real(con, path, label, lines, work)

    monkeypatch.setattr(ingest, "_stage", failing)
    a, b = ingest_table(db, ORDERS, landing).files
    assert a.status == "rejected"
    assert a.error == (
        "shop/orders/a.csv: could not be loaded (ConversionException: Conversion Error: "
        "something new)"
    )
    assert (b.status, b.rows_kept) == ("loaded", 2)


def test_lines_are_counted_apart_from_the_parser_and_logged(tmp_path):
    landing, db = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    write(landing, ORDERS.folder, "a.csv", orders_csv(3).replace("\n", "\n\n", 1))
    (load,) = ingest_table(db, ORDERS, landing).files
    assert (load.lines_in, load.blank_lines, load.rows_in) == (4, 1, 3)
    assert rows(db, "select lines_in, blank_lines, rows_in from raw._file_loads") == [(4, 1, 3)]


def test_every_contract_still_loads_its_tables_without_files(tmp_path):
    for contract in CONTRACTS:
        assert ingest_table(tmp_path / "w.duckdb", contract, tmp_path / "none").files == []


NFC = unicodedata.normalize("NFC", "José.Núñez@example.es")
NFD = unicodedata.normalize("NFD", NFC)


@pytest.fixture(scope="module")
def warehouse_of_hostile_orders(tmp_path_factory) -> Path:
    """Orders dated 2099 and 9999, and one person's email in four spellings, through ingestion
    and the dbt models of the scoring date and the identity graph."""
    import os
    import subprocess
    import sys

    from dagster_project.dbt import dbt_project

    root = tmp_path_factory.mktemp("hostile")
    landing, db = root / "landing", root / "warehouse.duckdb"
    spellings = [NFC, NFD, f" {NFC.upper()}\t", NFC.replace("@", "\u200b＠")]
    write(
        landing,
        ORDERS.folder,
        "orders.csv",
        "\n".join(
            [
                ORDER_HEADER,
                *(order(i) for i in range(1, 4)),
                order(8, created_at="2099-01-01T00:00:00Z"),
                order(9, created_at="9999-12-31T00:00:00Z"),
                # the first spelling's order names the shop account; the others are guest orders
                f"u1,shopper,{spellings[0]},2024-12-01T10:00:00Z,EUR,10,0,0,10,paid,false",
                *(
                    f"u{i},,{email},2024-12-0{i}T10:00:00Z,EUR,10,0,0,10,paid,false"
                    for i, email in enumerate(spellings[1:], start=2)
                ),
            ]
        )
        + "\n",
    )
    for contract in CONTRACTS:
        ingest_table(db, contract, landing)
    dbt = Path(sys.executable).parent / "dbt"
    done = subprocess.run(
        [
            str(dbt),
            "build",
            "--select",
            "+int_calendar__cutoffs +int_identity__customer_keys",
            *("--resource-type", "seed", "--resource-type", "model"),
            *("--profiles-dir", str(dbt_project.profiles_dir)),
        ],
        cwd=dbt_project.project_dir,
        env={**os.environ, "NEXTSALE_DUCKDB_PATH": str(db), "DO_NOT_TRACK": "1"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    return db


def test_a_future_dated_order_cannot_move_the_scoring_date(warehouse_of_hostile_orders):
    """The scoring date is the day after the latest order: one order dated 2099 (or 9999) would
    move everybody's recency and lifecycle stage, so ingestion quarantines it."""
    db = warehouse_of_hostile_orders
    assert rows(
        db, "select distinct as_of_date::varchar from intermediate.int_calendar__cutoffs"
    ) == [("2025-01-02",)]
    assert sorted(r[0] for r in rows(db, "select order_id from raw_quarantine.shop_orders")) == [
        "o8",
        "o9",
    ]


def test_one_email_in_four_unicode_spellings_is_one_person(warehouse_of_hostile_orders):
    db = warehouse_of_hostile_orders
    expected = normalize_identifier(NFC, EMAIL)
    assert expected == "josé.núñez@example.es"
    assert rows(db, "select distinct email from raw.shop_orders where order_id like 'u%'") == [
        (expected,)
    ]
    keys = rows(
        db,
        "select distinct customer_key from intermediate.int_identity__customer_keys "
        f"where node_id in ('email:{expected}', 'customer_id:shopper')",
    )
    assert len(keys) == 1


@pytest.mark.parametrize(
    "value",
    [
        "plain@example.com",
        "MiXeD@Example.COM",
        " padded@x.com\t",
        "a\u00a0b@x.com",
        "zero\u200bwidth@x.com",
        "ｆｕｌｌ＠ｗｉｄｔｈ.com",
        "\ufeffbom@x.com",
        "ﬁle@x.com",
        "İstanbul@x.com",
        "\u200b",
        "",
    ],
)
@pytest.mark.parametrize("kind", [EMAIL, ID])
def test_ingestion_sql_normalises_exactly_as_the_python_definition(value, kind):
    """The SQL fast path for plain ASCII and the Python function it falls back to agree."""
    with duckdb.connect() as con:
        register(con)
        query = f"select {identifier_sql('v', kind)} from (select ?::varchar as v)"
        (got,) = con.execute(query, [value]).fetchall()[0]
    assert got == normalize_identifier(value, kind)


@pytest.mark.parametrize("block", [1, 2, 3, 5, 64])
def test_line_counts_do_not_depend_on_where_blocks_end(tmp_path, monkeypatch, block):
    """The scan reads fixed-size blocks: a blank line or a CRLF split across two must count once."""
    import nextsale.landing_files as landing_files

    text = b"\n\r\nh,a\r\n\r\n\n1,2\n\n\r\n  \nlast"
    path = tmp_path / "f.csv"
    path.write_bytes(text)
    monkeypatch.setattr(landing_files, "_BLOCK", block)
    lines = landing_files.scan(path, "f.csv")
    physical = text.split(b"\n")
    assert lines.lines == len(physical)
    assert lines.newlines == text.count(b"\n")
    assert lines.crlf == text.count(b"\r\n")
    assert lines.blank_lines == sum(line in (b"", b"\r") for line in physical[:-1])
    assert lines.sha256 == hashlib.sha256(text).hexdigest()
