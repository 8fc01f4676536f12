"""The sync engine's figures for `make bench`:

- the diff: time to compare 1,000,000 activation rows with the last synced state (SQL), with
  nothing synced yet and again after 1 % of the rows changed;
- throughput: records per second against each local vendor server enforcing that vendor's
  published rate limit, as a fraction of the ceiling. The ceiling is the fastest the limit allows
  for the same requests: with a sliding window of n requests per w seconds, R requests need at
  least floor((R - 1) / n) * w seconds; records / that time is the ceiling rate.

    python bench/sync_bench.py
"""

from __future__ import annotations

import json
import math
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nextsale.sync import sync  # noqa: E402
from nextsale.sync.state import SyncState  # noqa: E402
from tests.support.vendors import SERVERS  # noqa: E402

# (vendor, records, server-side limits, client env, batches in flight): HubSpot at the
# Professional tier's 190 per 10 s, Klaviyo's bulk import burst and steady windows, Salesforce
# (no published per-second limit) at the 25 a second the engine keeps to
THROUGHPUT = [
    ("hubspot", 40_000, {"default": ((190, 10.0),)}, {"HUBSPOT_REQUESTS_PER_10S": "190"}, 1),
    ("klaviyo", 100_000, {"default": ((10, 1.0), (150, 60.0))}, {}, 1),
    ("salesforce", 60_000, {"default": ((25, 1.0),)}, {}, 1),
    ("salesforce", 60_000, {"default": ((25, 1.0),)}, {}, 4),
]
# The same where the local server validating every body against the spec is what limits the
# rate (it is one Python process): with that check off, what the engine itself reaches.
UNCHECKED = ["klaviyo", "salesforce"]
CREDENTIALS = {
    "hubspot": ("HUBSPOT_ACCESS_TOKEN", "HUBSPOT_BASE_URL"),
    "klaviyo": ("KLAVIYO_API_KEY", "KLAVIYO_BASE_URL"),
    "salesforce": ("SALESFORCE_ACCESS_TOKEN", "SALESFORCE_INSTANCE_URL"),
}


def activation_tables(con: duckdb.DuckDBPyConnection, rows: int) -> None:
    """Destination tables shaped like dbt's (the same columns and types), `rows` people each."""
    scores = """
        'segment ' || (i % 11) as {p}rfm_segment, 'active' as {p}lifecycle_stage,
        'mid' as {p}value_tier, round(random(), 4) as {p}purchase_propensity,
        round(random(), 4) as {p}churn_risk, round(random(), 4) as {p}upsell_propensity,
        round(random() * 900, 2) as {p}expected_ltv, round(random() * 1500, 2) as {p}potential_ltv,
        round(random() * 600, 2) as {p}ltv_headroom, round(random() * 90, 1) as {p}expected_days_to_next_order,
        'category ' || (i % 7) as {p}cross_sell_category, 'P' || (i % 997) as {p}cross_sell_product,
        'P' || (i % 991) as {p}upsell_product,
        'bought recently; high order rate; room to upgrade' as {p}score_reasons,
        date '2026-11-01' as {p}scored_on"""
    con.execute("create schema if not exists activation")
    people = f"from range({rows}) t(i)"
    con.execute(
        f"""create or replace table activation.hubspot__contacts as select
        'c' || lpad(i::varchar, 9, '0') as nextsale_customer_key, 'person' || i || '@example.com' as email,
        'Ann' as firstname, 'Lee' as lastname, null::varchar as phone,
        'upsell_ready' as nextsale_audiences, {scores.format(p="nextsale_")} {people}"""
    )
    con.execute(
        f"""create or replace table activation.klaviyo__profiles as select
        'c' || lpad(i::varchar, 9, '0') as external_id, 'person' || i || '@example.com' as email,
        null::varchar as phone_number, 'Ann' as first_name, 'Lee' as last_name,
        {scores.format(p="nextsale_")} {people}"""
    )
    sf = scores.format(p="").replace(" as ", " as sf_")
    con.execute(
        f"""create or replace table activation.salesforce__contacts as select
        'c' || lpad(i::varchar, 9, '0') as Nextsale_Customer_Key__c, 'person' || i || '@example.com' as Email,
        'Ann' as FirstName, 'Lee' as LastName, null::varchar as Phone, {sf} {people}"""
    )
    for column in [
        r[0] for r in con.execute("describe activation.salesforce__contacts").fetchall()
    ]:
        if column.startswith("sf_"):
            title = "_".join(w.capitalize() for w in column[3:].split("_")) + "__c"
            title = title.replace("Ltv", "LTV").replace("Rfm", "RFM")
            con.execute(
                f'alter table activation.salesforce__contacts rename "{column}" to "{title}"'
            )
    con.execute(
        "create or replace table activation.audience_members as select "
        "nextsale_customer_key as customer_key, 'upsell_ready' as audience, 'email' as channel, "
        "false as is_sendable from activation.hubspot__contacts limit 0"
    )
    con.execute("create or replace table activation.erasure_requests (email varchar)")


def diff_figures(workdir: Path) -> dict:
    database = workdir / "diff.duckdb"
    with duckdb.connect(str(database)) as con:
        activation_tables(con, 1_000_000)
        state = SyncState(con, "hubspot", "bench")
        table, key, email = "activation.hubspot__contacts", "nextsale_customer_key", "email"
        exclude = ("nextsale_scored_on",)
        erasures = "select email from activation.erasure_requests"
        first = state.plan(table, key, email, exclude, erasures, mirror=True)
        # everything synced: the state holds every row's hash
        con.execute(
            "insert into sync.state select 'hubspot', record_key, row_hash, email, email, null, "
            "now(), 'bench' from current_rows"
        )
        con.execute(
            "update activation.hubspot__contacts set nextsale_churn_risk = 0.5 "
            "where hash(nextsale_customer_key) % 100 = 0"
        )
        started = time.perf_counter()
        again = state.plan(table, key, email, exclude, erasures, mirror=True)
        seconds = time.perf_counter() - started
    return {
        "rows": 1_000_000,
        "first_sync_diff_s": round(first.diff_seconds, 2),
        "first_sync_upserts": first.upserts.num_rows,
        "one_percent_changed_diff_s": round(seconds, 2),
        "changed_rows_found": again.upserts.num_rows,
    }


def minimum_seconds(requests: int, limits: tuple[tuple[int, float], ...]) -> float:
    return max(math.floor((requests - 1) / n) * window for n, window in limits)


def serve(vendor: str, limits: dict, check: bool, pipe) -> None:
    """Run a vendor server until told to stop, then hand back what it received."""
    with SERVERS[vendor](
        token="bench", rate_limits=limits, check_answers=False, check_requests=check
    ) as server:
        pipe.send(server.url)
        pipe.recv()
        pipe.send(server.received)


def throughput(
    vendor: str,
    records: int,
    limits: dict,
    client_env: dict,
    in_flight: int,
    workdir: Path,
    check: bool = True,
) -> dict:
    database = workdir / f"{vendor}-{in_flight}.duckdb"
    with duckdb.connect(str(database)) as con:
        activation_tables(con, records)
    # the server gets a process (and a core) of its own, as a vendor would; spawned, not forked,
    # so that it does not share this process's heap copy-on-write
    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    process = context.Process(target=serve, args=(vendor, limits, check, there))
    process.start()
    try:
        token, url = CREDENTIALS[vendor]
        env = {token: "bench", url: here.recv(), **client_env}
        result = sync(vendor, database, env=env, poll_seconds=0.2, max_in_flight=in_flight)
    finally:
        here.send("stop")
        upserts = [r for r in here.recv() if r.applied and r.status < 300]
        process.join()
    log = result.log
    assert log["sent"] == records, log
    floor = minimum_seconds(len(upserts), limits["default"])
    first, last = min(r.at for r in upserts), max(r.at for r in upserts)
    sending = last - first
    # the ceiling the issue defines: records per request x the steadiest window's rate
    n, window = min(limits["default"], key=lambda limit: limit[0] / limit[1])
    steady = records / len(upserts) * n / window
    return {
        "vendor": vendor,
        "requests_checked_against_spec": check,
        "in_flight": in_flight,
        "records": records,
        "requests": len(upserts),
        "records_per_request": round(records / len(upserts)),
        "seconds_sending": round(sending, 2),
        "records_per_s": round(records / max(sending, 1e-9)),
        "steady_ceiling_records_per_s": round(steady),
        "fraction_of_steady_ceiling": round(records / sending / steady, 3),
        # the exact fastest these requests could go: bursts allowed at the start included
        "exact_ceiling_seconds": floor,
        "fraction_of_exact_ceiling": round(floor / sending, 3) if floor else None,
        # how much of the sending time the local server spent answering: near 1, the local
        # stand-in (validating every body against the spec) is what limits the rate
        "server_busy_share": round(sum(r.seconds for r in upserts) / sending, 2),
        # the most the local server could take, one request at a time (Python, one core)
        "server_capacity_records_per_s": round(records / sum(r.seconds for r in upserts)),
        "throttled": log["throttled"],
        "sync_seconds": log["duration_s"],
    }


def main() -> dict:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        results["diff"] = diff_figures(workdir)
        d = results["diff"]
        print(
            f"sync diff   {d['rows']:>10,} rows: first sync {d['first_sync_diff_s']:.2f} s; "
            f"1 % changed {d['one_percent_changed_diff_s']:.2f} s ({d['changed_rows_found']:,} found)",
            flush=True,
        )
        runs = [(v, *setup, True) for v, *setup in THROUGHPUT]
        runs += [(v, *setup, False) for v, *setup in THROUGHPUT[:3] if v in UNCHECKED]
        for vendor, records, limits, client_env, in_flight, check in runs:
            t = throughput(vendor, records, limits, client_env, in_flight, workdir, check)
            results[f"{vendor}_in_flight_{in_flight}{'' if check else '_unchecked'}"] = t
            exact = t["fraction_of_exact_ceiling"]
            print(
                f"sync {vendor:<10} {'' if check else '(server not checking) '}"
                f"{t['records']:>8,} records in {t['requests']} requests, {in_flight} in flight: "
                f"{t['records_per_s']:>6,} records/s = "
                f"{t['fraction_of_steady_ceiling']:.1%} of {t['steady_ceiling_records_per_s']:,}/s "
                f"(exact ceiling: {f'{exact:.1%}' if exact else 'n/a'}); the local server "
                f"was busy {t['server_busy_share']:.0%} of the time and can take at most "
                f"{t['server_capacity_records_per_s']:,} records/s; {t['throttled']} throttled",
                flush=True,
            )
    (ROOT / "bench" / "sync_results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
