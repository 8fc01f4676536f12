"""One more day of landing files for a generated data set: what a daily run receives.

The generator simulates a whole history at once, so the next day is made from its last one:
the web events and orders (with their lines) of the last 24 hours of history, moved one day
later under new ids. The same people come back, at the volume of a real day of this data set.
Files are written under `out_dir` in the landing layout (web/events, shop/orders,
shop/order_lines), named after the day, so that ingesting them beside the history adds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, timedelta
from pathlib import Path

import duckdb

ISO = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class NextDay:
    day: date
    rows: dict[str, int]


def _files(landing: Path, folder: str, pattern: str) -> str:
    paths = sorted((landing / folder).glob(pattern))
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def next_day(landing: Path, out_dir: Path) -> NextDay:
    """Write the day after the history under `landing` into `out_dir` (replacing it)."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute("set enable_progress_bar = false")
    con.execute(f"""
        create temp table events as
        select *, try_cast(event_ts as timestamptz) as happened_at
        from read_json({_files(landing, "web/events", "*.jsonl")},
                       format = 'newline_delimited', columns = {{
                           event_id: 'VARCHAR', event_ts: 'VARCHAR', anonymous_id: 'VARCHAR',
                           user_id: 'VARCHAR', session_id: 'VARCHAR', event_name: 'VARCHAR',
                           page_path: 'VARCHAR', product_id: 'VARCHAR', email: 'VARCHAR',
                           utm_source: 'VARCHAR', utm_medium: 'VARCHAR', utm_campaign: 'VARCHAR',
                           device: 'VARCHAR', country: 'VARCHAR'}},
                       ignore_errors = true)""")
    con.execute(f"""
        create temp table orders as
        select *, try_cast(created_at as timestamptz) as happened_at
        from read_csv({_files(landing, "shop/orders", "*.csv")}, all_varchar = true,
                      header = true, ignore_errors = true)""")
    last = con.execute(
        "select greatest((select max(happened_at) from events), (select max(happened_at) from orders))"
    ).fetchall()[0][0]
    day = last.astimezone(UTC).date() + timedelta(days=1)
    window = f"happened_at > timestamptz '{last.isoformat()}' - interval 1 day"
    shifted = f"strftime((happened_at + interval 1 day) at time zone 'UTC', '{ISO}')"
    folders = {"web/events": "jsonl", "shop/orders": "csv", "shop/order_lines": "csv"}
    for folder in folders:
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    name = f"day-{day.isoformat()}"
    copies = {
        "web_events": (
            f"""select md5(event_id || ':{day}') as event_id, {shifted} as event_ts,
                       anonymous_id, user_id, session_id || ':{day}' as session_id, event_name,
                       page_path, product_id, email, utm_source, utm_medium, utm_campaign,
                       device, country
                from events where {window}""",
            out_dir / "web/events" / f"{name}.jsonl",
            "FORMAT JSON",
        ),
        "shop_orders": (
            f"""select order_id || '-{day}' as order_id, customer_id, email,
                       {shifted} as created_at, currency, subtotal, discount, shipping, total,
                       status, is_test
                from orders where {window}""",
            out_dir / "shop/orders" / f"{name}.csv",
            "FORMAT CSV, HEADER",
        ),
        "shop_order_lines": (
            f"""select lines.order_id || '-{day}' as order_id, lines.* exclude (order_id)
                from read_csv({_files(landing, "shop/order_lines", "*.csv")},
                              all_varchar = true, header = true) as lines
                inner join (select order_id from orders where {window}) as day_orders
                    on day_orders.order_id = lines.order_id""",
            out_dir / "shop/order_lines" / f"{name}.csv",
            "FORMAT CSV, HEADER",
        ),
    }
    rows = {}
    for table, (sql, path, options) in copies.items():
        con.execute(f"copy ({sql}) to '{path}' ({options})")
        rows[table] = con.execute(f"select count(*) from ({sql})").fetchall()[0][0]
    con.close()
    return NextDay(day, rows)
