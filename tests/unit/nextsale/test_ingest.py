"""Ingestion: every kind of bad row is quarantined with its reason; bad files load nothing."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import duckdb
import pytest

from nextsale.contracts import CONTRACTS_BY_TABLE
from nextsale.ingest import ingest_table, reconcile
from tests.support.landing import EVENT, GOOD_ORDER, LINE_HEADER, ORDER_HEADER, write
from tests.support.warehouse import rows

ORDERS = CONTRACTS_BY_TABLE["shop_orders"]
LINES = CONTRACTS_BY_TABLE["shop_order_lines"]
EVENTS = CONTRACTS_BY_TABLE["web_events"]


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


def load_orders(db: Path, landing: Path, *lines: str):
    write(landing, "shop/orders", "orders.csv", "\n".join([ORDER_HEADER, *lines]) + "\n")
    return ingest_table(db, ORDERS, landing)


def quarantine_reasons(db: Path, table: str) -> list[str]:
    return [
        r[0] for r in rows(db, f"select _reason from raw_quarantine.{table} order by _row_number")
    ]


def test_good_rows_are_typed_and_timestamps_normalised_to_utc(db, landing):
    load = load_orders(db, landing, GOOD_ORDER)
    assert (load.total("rows_kept"), load.total("rows_quarantined")) == (1, 0)
    ((created, total, source),) = rows(
        db, "select created_at::varchar, total, _source_file from raw.shop_orders"
    )
    assert created == "2025-01-01 09:00:00+00"
    assert float(total) == 10.0
    assert source == "shop/orders/orders.csv"


def test_bad_timestamp_is_quarantined(db, landing):
    load_orders(
        db,
        landing,
        GOOD_ORDER,
        GOOD_ORDER.replace("2025-01-01T10:00:00+01:00", "2024-02-30T10:00:00Z").replace(
            "1,", "2,", 1
        ),
    )
    assert quarantine_reasons(db, "shop_orders") == [
        "bad created_at: not an ISO-8601 timestamp: 2024-02-30T10:00:00Z"
    ]


def test_unknown_currency_is_quarantined(db, landing):
    load_orders(db, landing, GOOD_ORDER.replace("EUR", "ZZZ"))
    assert quarantine_reasons(db, "shop_orders") == ["bad currency: unknown currency ZZZ"]


def test_missing_id_is_quarantined(db, landing):
    load_orders(db, landing, GOOD_ORDER.replace("1,c1", ",c1", 1))
    assert quarantine_reasons(db, "shop_orders") == ["missing order_id"]


def test_exact_duplicate_is_quarantined_and_the_first_kept(db, landing):
    load = load_orders(db, landing, GOOD_ORDER, GOOD_ORDER)
    assert (load.total("rows_kept"), load.total("rows_quarantined")) == (1, 1)
    assert quarantine_reasons(db, "shop_orders") == ["exact duplicate: same as row 1"]


def test_several_problems_in_one_row_are_all_named(db, landing):
    load_orders(db, landing, ",c1,a@b.com,yesterday,ZZZ,10,0,0,-10,lost,false")
    (reason,) = quarantine_reasons(db, "shop_orders")
    for part in ("missing order_id", "bad created_at", "bad total", "bad status", "bad currency"):
        assert part in reason


def test_negative_and_fractional_quantities_are_quarantined(db, landing):
    write(
        landing,
        "shop/order_lines",
        "lines.csv",
        f"{LINE_HEADER}\n1,1,P1,2,5.0,0\n1,2,P1,-1,5.0,0\n1,3,P1,1.5,5.0,0\n",
    )
    load = ingest_table(db, LINES, landing)
    assert load.total("rows_kept") == 1
    assert quarantine_reasons(db, "shop_order_lines") == [
        "bad quantity: quantity is not positive",
        "bad quantity: not a whole number: 1.5",
    ]


def test_unparseable_csv_line_is_quarantined_with_the_line(db, landing):
    load = load_orders(db, landing, GOOD_ORDER, "2,c1,a@b.com")
    assert (load.total("rows_in"), load.total("rows_kept"), load.total("rows_quarantined")) == (
        2,
        1,
        1,
    )
    ((reason, line),) = rows(db, "select _reason, _raw_line from raw_quarantine.shop_orders")
    assert reason.startswith("unparseable CSV line")
    assert line == "2,c1,a@b.com"


def test_malformed_json_line_is_quarantined(db, landing):
    text = "\n".join(
        [
            EVENT % ("e1", "2025-01-01T10:00:00Z"),
            '{"event_id": "e2",',
            "",
            EVENT % ("e3", "not a date"),
        ]
    )
    write(landing, "web/events", "events.jsonl", text + "\n")
    load = ingest_table(db, EVENTS, landing)
    assert (load.total("rows_in"), load.total("rows_kept"), load.total("rows_quarantined")) == (
        3,
        1,
        2,
    )
    assert sorted(quarantine_reasons(db, "web_events")) == [
        "bad event_ts: not an ISO-8601 timestamp: not a date",
        "malformed JSON line",
    ]


def test_missing_required_column_rejects_the_file_and_other_files_still_load(db, landing):
    write(landing, "shop/orders", "a.csv", f"{ORDER_HEADER}\n{GOOD_ORDER}\n")
    header = ORDER_HEADER.replace(",currency", "")
    write(
        landing,
        "shop/orders",
        "b.csv",
        f"{header}\n2,c1,a@b.com,2025-01-01T10:00:00Z,10,0,0,10,paid,false\n",
    )
    load = ingest_table(db, ORDERS, landing)
    (rejected,) = load.rejected
    assert rejected.error == "shop/orders/b.csv: missing required column(s) currency"
    assert rows(db, "select distinct _source_file from raw.shop_orders") == [("shop/orders/a.csv",)]
    assert rows(db, "select count(*) from raw_quarantine.shop_orders") == [(0,)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file (0 bytes)"),
        (b"\n\n", "empty file (no header row)"),
        (ORDER_HEADER.encode("utf-16"), "not UTF-8 text"),
        (gzip.compress(b"\x00\xff garbage"), "not UTF-8 text"),
    ],
    ids=["zero-bytes", "no-header", "utf-16", "binary"],
)
def test_unreadable_files_are_rejected_whole_with_a_clear_error(db, landing, content, message):
    write(landing, "shop/orders", "bad.csv", content)
    load = ingest_table(db, ORDERS, landing)
    (rejected,) = load.rejected
    assert rejected.error.startswith("shop/orders/bad.csv: ")
    assert message in rejected.error
    assert rows(db, "select count(*) from raw.shop_orders") == [(0,)]


def test_new_column_is_kept_and_reported(db, landing):
    write(
        landing,
        "shop/orders",
        "orders.csv",
        f"{ORDER_HEADER},gift_note\n{GOOD_ORDER},happy birthday\n",
    )
    load = ingest_table(db, ORDERS, landing)
    assert load.extra_columns == ["gift_note"]
    assert rows(db, "select gift_note from raw.shop_orders") == [("happy birthday",)]


def test_optional_column_may_be_absent(db, landing):
    header = "contact_id,email,first_name,last_name,lifecycle_stage,country,created_at,updated_at,email_opt_in,sms_opt_in,do_not_contact"
    write(
        landing,
        "crm/contacts",
        "c.csv",
        f"{header}\n1,a@b.com,A,B,lead,GB,2025-01-01T00:00:00Z,2025-01-01T00:00:00Z,true,false,false\n",
    )
    load = ingest_table(db, CONTRACTS_BY_TABLE["crm_contacts"], landing)
    assert load.total("rows_kept") == 1 and not load.rejected
    assert rows(db, "select phone, company_id from raw.crm_contacts") == [(None, None)]


def test_loading_the_same_file_twice_changes_nothing(db, landing):
    load_orders(db, landing, GOOD_ORDER, GOOD_ORDER)
    before = rows(db, "select * from raw.shop_orders") + rows(
        db, "select * from raw_quarantine.shop_orders"
    )
    again = ingest_table(db, ORDERS, landing)
    assert [f.status for f in again.files] == ["unchanged"]
    after = rows(db, "select * from raw.shop_orders") + rows(
        db, "select * from raw_quarantine.shop_orders"
    )
    assert before == after


def test_redelivered_file_replaces_its_earlier_rows(db, landing):
    load_orders(db, landing, GOOD_ORDER, GOOD_ORDER)
    load = load_orders(db, landing, GOOD_ORDER.replace(",10,paid", ",12,paid"))
    assert [f.status for f in load.files] == ["loaded"]
    assert rows(db, "select count(*), sum(total) from raw.shop_orders") == [(1, 12)]
    assert rows(db, "select count(*) from raw_quarantine.shop_orders") == [(0,)]
    assert reconcile(db, ORDERS) == []


def test_tables_exist_even_without_files(db, landing):
    load = ingest_table(db, CONTRACTS_BY_TABLE["crm_deals"], landing)
    assert load.files == []
    assert rows(db, "select count(*) from raw.crm_deals") == [(0,)]


def test_reconcile_reports_rows_lost_after_the_load(db, landing):
    load_orders(db, landing, GOOD_ORDER)
    with duckdb.connect(str(db)) as con:
        con.execute("delete from raw.shop_orders")
    assert reconcile(db, ORDERS) == ["shop/orders/orders.csv: 1 rows in, 0 kept + 0 quarantined"]


def test_a_column_added_to_the_contract_later_is_added_to_existing_tables(db, landing):
    load_orders(db, landing, GOOD_ORDER)
    with duckdb.connect(str(db)) as con:  # tables made before the contract gained `email`
        con.execute("alter table raw.shop_orders drop column email")
        con.execute("alter table raw_quarantine.shop_orders drop column email")
    load = load_orders(db, landing, GOOD_ORDER.replace(",10,paid", ",11,paid"))
    assert load.total("rows_kept") == 1
    assert rows(db, "select email, total from raw.shop_orders") == [("a@b.com", 11)]


def test_the_duckdb_memory_cap_applies_to_every_connection_nextsale_opens(tmp_path, monkeypatch):
    from nextsale.warehouse import MEMORY_LIMIT_VARIABLE, connect_duckdb

    monkeypatch.setenv(MEMORY_LIMIT_VARIABLE, "1GB")
    with connect_duckdb(tmp_path / "w.duckdb") as con:
        (limit,) = con.execute("select current_setting('memory_limit')").fetchall()[0]
    assert limit == "953.6 MiB"  # 1GB, as DuckDB prints it
    monkeypatch.delenv(MEMORY_LIMIT_VARIABLE)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    with duckdb.connect() as plain, connect_duckdb(tmp_path / "other.duckdb") as con:
        plain.execute(f"set memory_limit = '{min(6 * 2**30, ram // 2) // 2**20}MiB'")
        expected = plain.execute("select current_setting('memory_limit')").fetchall()[0][0]
        # without the variable: 6 GiB or half the RAM, not DuckDB's own 80 % of RAM
        assert con.execute("select current_setting('memory_limit')").fetchall()[0][0] == expected
