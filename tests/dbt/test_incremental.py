"""An incremental build equals a full refresh on the same data, row for row.

The landing files arrive in two deliveries: most of the events and order lines first, then a
day of new rows together with what makes an increment hard: a newer version of an event that
moves it to another session, a changed order line, a file re-delivered without one of its
events (which must leave every table, as a full refresh would drop it) and a product family
renamed in the catalogue. The second build is the
daily one (the identity history kept), so the scoring snapshot it gives is compared too.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter

import duckdb
import pytest

from nextsale.contracts import CONTRACTS
from nextsale.ingest import ingest_table
from tests.conftest import END_DATE
from tests.support.warehouse import dbt_build

INCREMENTAL = [
    "staging.stg_web__events",
    "staging.stg_shop__order_lines",
    "intermediate.int_web__sessions",
    "intermediate.int_identity__web_observations",
    "intermediate.int_web__product_views",
    "ml.scoring_snapshot",
]
SELECT = "+int_identity__observations +ml_scoring_snapshot"
VARIABLES = {"as_of_date": END_DATE.isoformat()}


def ingest(database, landing) -> None:
    for contract in CONTRACTS:
        ingest_table(database, contract, landing)


def split_lines(path, first_share: float, header: bool) -> list[str]:
    """Keep the first `first_share` of the file's records at `path`; return the rest."""
    lines = path.read_text().splitlines(keepends=True)
    head, body = (lines[:1], lines[1:]) if header else ([], lines)
    cut = int(len(body) * first_share)
    path.write_text("".join(head + body[:cut]))
    return head + body[cut:]


@pytest.fixture(scope="module")
def builds(generated, tmp_path_factory):
    """The incremental warehouse after both deliveries, and a full refresh of a copy of it."""
    root = tmp_path_factory.mktemp("incremental")
    landing = root / "landing"
    shutil.copytree(generated.out_dir, landing)
    events = landing / "web" / "events" / "part-00000.jsonl"
    lines = landing / "shop" / "order_lines" / "part-00000.csv"
    later_events = split_lines(events, 0.8, header=False)
    later_lines = split_lines(lines, 0.8, header=True)

    database = root / "incremental.duckdb"
    ingest(database, landing)
    dbt_build(database, SELECT, VARIABLES)

    # the next day's files (named after the first: a file loaded in the same run wins a tie
    # on its name): new rows, one event moved to another session, one order line changed
    kept = events.read_text().splitlines(keepends=True)
    moved = json.loads(kept[0]) | {"session_id": "moved-session"}
    (events.parent / "part-00001.jsonl").write_text(
        "".join(later_events) + json.dumps(moved) + "\n"
    )
    changed_line = lines.read_text().splitlines(keepends=True)[1]
    order_id, line_id, product_id, _, *rest = changed_line.rstrip("\n").split(",")
    later_lines.append(",".join([order_id, line_id, product_id, "7", *rest]) + "\n")
    (lines.parent / "part-00001.csv").write_text("".join(later_lines))
    # and yesterday's events file re-delivered without an event that has no other row
    ids = Counter(json.loads(line)["event_id"] for line in kept + later_events)
    drop = next(i for i, line in enumerate(kept) if i and ids[json.loads(line)["event_id"]] == 1)
    gone = json.loads(kept[drop])["event_id"]
    events.write_text("".join(kept[:drop] + kept[drop + 1 :]))
    # and the catalogue re-delivered with a product family renamed
    products = landing / "shop" / "products" / "products.csv"
    products.write_text(products.read_text().replace(",Espresso Machine,", ",Espresso Maker,"))
    ingest(database, landing)
    dbt_build(database, SELECT, VARIABLES | {"refresh_history": False})

    full = root / "full.duckdb"
    shutil.copy(database, full)
    dbt_build(full, SELECT, VARIABLES, "--full-refresh")
    return {
        "incremental": database,
        "full": full,
        "moved": moved,
        "gone": gone,
        "line": (order_id, line_id),
    }


@pytest.mark.parametrize("table", INCREMENTAL)
def test_an_incremental_build_equals_a_full_refresh(builds, table):
    with duckdb.connect(str(builds["incremental"]), read_only=True) as con:
        con.execute(f"attach '{builds['full']}' as full_refresh (read_only)")
        rows = con.execute(f"select count(*) from {table}").fetchone()[0]
        only_incremental = con.execute(
            f"select count(*) from (select * from {table} except all "
            f"select * from full_refresh.{table})"
        ).fetchone()[0]
        only_full = con.execute(
            f"select count(*) from (select * from full_refresh.{table} except all "
            f"select * from {table})"
        ).fetchone()[0]
    assert rows > 100
    assert (only_incremental, only_full) == (0, 0)


def test_the_increment_applied_every_kind_of_change(builds):
    with duckdb.connect(str(builds["incremental"]), read_only=True) as con:
        moved, gone = builds["moved"], builds["gone"]
        session = con.execute(
            "select session_id from staging.stg_web__events where event_id = ?",
            [moved["event_id"]],
        ).fetchone()
        assert session == ("moved-session",)
        assert con.execute(
            "select count(*) from intermediate.int_web__sessions where session_id = 'moved-session'"
        ).fetchone() == (1,)
        for table in ("staging.stg_web__events", "intermediate.int_identity__web_observations"):
            assert con.execute(
                f"select count(*) from {table} where event_id = ?", [gone]
            ).fetchone() == (0,)
        families = con.execute(
            "select family, count(*) from intermediate.int_web__product_views "
            "where family like 'Espresso Ma%' group by family"
        ).fetchall()
        assert [family for family, _ in families] == ["Espresso Maker"]
        quantity = con.execute(
            "select quantity from staging.stg_shop__order_lines where order_id = ? and line_id = ?",
            [builds["line"][0], int(builds["line"][1])],
        ).fetchone()
        assert quantity == (7,)
