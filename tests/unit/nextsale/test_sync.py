"""The sync engine against local HubSpot, Klaviyo and Salesforce servers that validate every
request and answer against the vendors' published OpenAPI specs (tests/support/vendors.py).

The activation tables are the real dbt output of the session's pipeline, copied per test."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from nextsale.sync import DESTINATIONS, SyncError, sync
from tests.support.sync import (
    CREDENTIALS,
    TABLES,
    TOKEN,
    activation_tables,
    delivered,
    env_for,
    identity,
    keys,
    run,
    server,
    warehouse,
)

__all__ = ["activation_tables", "server", "warehouse"]  # fixtures, used by name
pytestmark = pytest.mark.parametrize("vendor", list(DESTINATIONS))


def test_full_sync_delivers_every_record_once(vendor, warehouse, server):
    result = run(vendor, warehouse, server)
    people = identity(vendor, warehouse)
    assert result.log["status"] == "success" and result.log["sent"] == len(people) > 100
    assert sorted(delivered(vendor, server)) == people
    assert set(delivered(vendor, server).values()) == {1}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        logged = con.execute("select sent, failed, planned_upserts from sync.log").fetchall()
    assert logged == [(len(people), 0, len(people))]
    if vendor == "klaviyo":  # every sendable email audience member is on the audience's list
        with duckdb.connect(str(warehouse), read_only=True) as con:
            wanted = con.execute(
                "select audience, p.email from activation.audience_members a join "
                "activation.klaviyo__profiles p on p.external_id = a.customer_key "
                "where a.is_sendable and a.channel = 'email'"
            ).fetchall()
        assert wanted and all(
            email in server.members(f"nextsale: {audience}") for audience, email in wanted
        )


def test_a_second_sync_without_changes_sends_nothing(vendor, warehouse, server):
    run(vendor, warehouse, server)
    before = len(server.received)
    result = run(vendor, warehouse, server)
    assert result.log["planned_upserts"] == 0 and result.log["sent"] == 0
    assert len(server.received) == before


def test_a_changed_score_sends_one_update(vendor, warehouse, server):
    run(vendor, warehouse, server)
    table, key, _ = TABLES[vendor]
    column = "Purchase_Propensity__c" if vendor == "salesforce" else "nextsale_purchase_propensity"
    changed = keys(warehouse, vendor)[7]
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            f'update activation.{table} set "{column}" = 0.4242 where "{key}" = ?', [changed]
        )
    server.applied.clear()
    result = run(vendor, warehouse, server)
    assert result.log["planned_upserts"] == result.log["sent"] == 1
    assert sum(delivered(vendor, server).values()) == 1
    stored = getattr(
        server, {"hubspot": "contacts", "klaviyo": "profiles", "salesforce": "records"}[vendor]
    )
    values = [v.get(column, v.get("properties", {}).get(column)) for v in stored.values()]
    assert values.count("0.4242" if vendor == "hubspot" else 0.4242) == 1


def test_throttling_errors_and_dropped_connections_still_deliver_everything(
    vendor, warehouse, server
):
    server.faults.throttle, server.faults.retry_after = 4, 0.3
    server.faults.errors = 2
    server.faults.drop = 1
    server.faults.slow, server.faults.slow_seconds = 1, 0.3
    result = run(vendor, warehouse, server)
    people = identity(vendor, warehouse)
    assert result.log["status"] == "success" and result.log["sent"] == len(people)
    assert sorted(delivered(vendor, server)) == people
    assert result.log["retried"] >= 7 and result.log["throttled"] >= 4
    assert sum(r.status == 429 for r in server.received) == 4


def test_a_sync_killed_mid_way_and_restarted_delivers_each_record_exactly_once(
    vendor, warehouse, server, tmp_path
):
    """A real process, killed while a request is in flight: HubSpot and Salesforce after two
    batches landed, Klaviyo once its import job was accepted (the resumed run must confirm that
    job, not send it again)."""
    kill_after = {"hubspot": 2, "klaviyo": 1, "salesforce": 2}[vendor]
    env = {
        **os.environ,
        **env_for(vendor, server),
        "NEXTSALE_DUCKDB_PATH": str(warehouse),
        "NEXTSALE_ARTIFACTS_DIR": str(tmp_path),
    }
    process = subprocess.Popen([sys.executable, "-m", "nextsale.cli", "sync", vendor], env=env)

    def kill_mid_sync(number: int) -> None:
        upserts = [r for r in server.received if r.applied]
        if len(upserts) == kill_after and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            from tests.support.vendors import DroppedConnection

            raise DroppedConnection

    server.faults.on_request = kill_mid_sync
    assert process.wait(timeout=120) == -signal.SIGKILL
    server.faults.on_request = None
    everyone = identity(vendor, warehouse)
    partial = len(delivered(vendor, server))
    assert 0 < partial <= len(everyone)
    result = run(vendor, warehouse, server)
    assert sorted(delivered(vendor, server)) == everyone
    assert set(delivered(vendor, server).values()) == {1}, "a record was sent twice"
    # what landed before the kill but was not yet confirmed counts as sent by the resumed run
    confirmed_before = 0 if vendor == "klaviyo" else partial
    assert result.log["sent"] == len(everyone) - confirmed_before


def test_an_erasure_request_deletes_the_person_at_the_destination(vendor, warehouse, server):
    run(vendor, warehouse, server)
    table, key, email = TABLES[vendor]
    person = keys(warehouse, vendor)[3]
    with duckdb.connect(str(warehouse)) as con:
        address = con.execute(
            f'select "{email}" from activation.{table} where "{key}" = ?', [person]
        ).fetchone()[0]
        # what dbt does on an erasure request: out of every table, into erasure_requests
        con.execute(f'delete from activation.{table} where "{key}" = ?', [person])
        con.execute("insert into activation.erasure_requests values (?)", [address])
    result = run(vendor, warehouse, server)
    assert result.log["deleted"] == 1 and result.log["planned_upserts"] == 0
    gone = server.deleted if vendor == "salesforce" else server.erased
    assert gone == [person if vendor == "salesforce" else address]
    again = run(vendor, warehouse, server)  # the request stays; the person is not deleted twice
    assert again.log["planned_deletes"] == 0


def test_per_record_errors_are_logged_and_retried_on_the_next_run(vendor, warehouse, server):
    bad = identity(vendor, warehouse)[:3]
    server.faults.bad_records = set(bad)
    result = run(vendor, warehouse, server)
    assert result.log["status"] == "partial" and result.log["failed"] == 3
    with duckdb.connect(str(warehouse), read_only=True) as con:
        messages = con.execute("select message from sync.failures").fetchall()
    assert len(messages) == 3 and all("invalid" in m[0].lower() for m in messages)
    server.faults.bad_records = set()
    retried = run(vendor, warehouse, server)
    assert retried.log["sent"] == 3 and retried.log["status"] == "success"


def test_one_malformed_record_does_not_hold_back_its_batch(vendor, warehouse, server):
    poison = identity(vendor, warehouse)[5]
    server.faults.poison_records = {poison}
    result = run(vendor, warehouse, server)
    assert result.log["failed"] == 1 and result.failures[0]["status_code"] == 400
    assert sorted(delivered(vendor, server)) == [
        p for p in identity(vendor, warehouse) if p != poison
    ]


def test_the_token_never_reaches_logs_or_dry_run_files(vendor, warehouse, server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    plan = tmp_path / "plan"
    dry = sync(vendor, warehouse, env=env_for(vendor, server), dry_run_dir=plan)
    files = list(plan.glob("*.json"))
    assert dry.log["status"] == "dry run" and len(files) == dry.log["requests"] > 0
    assert server.received == [], "a dry run sends nothing"
    server.faults.throttle = 2
    server.faults.bad_records = set(identity(vendor, warehouse)[:1])
    run(vendor, warehouse, server)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stored = str(con.execute("select * from sync.log").fetchall())
        stored += str(con.execute("select * from sync.failures").fetchall())
    written = "".join(f.read_text() for f in files)
    assert TOKEN not in caplog.text and TOKEN not in stored and TOKEN not in written
    assert '"method"' in written and '"body"' in written


def test_without_credentials_the_sync_refuses_to_send(vendor, warehouse):
    with pytest.raises(SyncError, match="dry-run"):
        sync(vendor, warehouse, env={})


def test_mirror_mode_removes_people_who_left_the_table(vendor, warehouse, server):
    run(vendor, warehouse, server)
    table, key, _ = TABLES[vendor]
    with duckdb.connect(str(warehouse)) as con:
        # for Klaviyo, two people on lists: mirror mode takes them off (it cannot delete them)
        person, member = (
            r[0]
            for r in con.execute(
                f'select "{key}" from activation.{table} where "{key}" in (select customer_key from '
                "activation.audience_members where is_sendable and channel = 'email') order by 1 limit 2"
            ).fetchall()
        )
        emails = [
            r[0]
            for r in con.execute(
                f'select lower("{TABLES[vendor][2]}") from activation.{table} where "{key}" in (?, ?)',
                [person, member],
            ).fetchall()
        ]
        con.execute(f'delete from activation.{table} where "{key}" in (?, ?)', [person, member])
    assert run(vendor, warehouse, server).log["planned_deletes"] == 0  # off by default
    result = run(vendor, warehouse, server, mirror=True)
    assert result.log["deleted"] == 2
    if vendor == "hubspot":
        assert server.requests_to("batch/archive", 204)
    if vendor == "salesforce":
        assert sorted(server.deleted) == sorted([person, member])
    if vendor == "klaviyo":
        assert not any(e in v["members"] for v in server.lists.values() for e in emails)


def test_the_servers_refuse_what_the_vendor_spec_refuses(vendor, server):
    """The check the other tests lean on: a request off the spec gets a 400 and is recorded."""
    import requests

    headers = {
        "hubspot": {"Authorization": f"Bearer {TOKEN}"},
        "klaviyo": {"Authorization": f"Klaviyo-API-Key {TOKEN}", "revision": "2026-07-15"},
        "salesforce": {"Authorization": f"Bearer {TOKEN}"},
    }[vendor]
    method, path, body, content_type = {
        "hubspot": (
            "POST",
            "/crm/v3/objects/contacts/batch/upsert",
            {"inputs": [{"idProperty": "email", "properties": {}}]},
            "application/json",
        ),
        "klaviyo": (
            "POST",
            "/api/profile-bulk-import-jobs",
            {"data": {"type": "profile", "attributes": {}}},
            "application/vnd.api+json",
        ),
        "salesforce": (
            "PATCH",
            "/services/data/v62.0/composite/sobjects/Contact/Key__c",
            {"records": [{"LastName": "no attributes"}]},
            "application/json",
        ),
    }[vendor]
    answer = requests.request(
        method, server.url + path, json=body, headers={**headers, "Content-Type": content_type}
    )
    assert answer.status_code == 400
    assert len(server.invalid_requests) == 1
    server.invalid_requests.clear()  # expected here; the fixture asserts none are left


def test_a_refused_batch_among_many_fails_alone_and_nothing_goes_twice(
    vendor, warehouse, server, monkeypatch
):
    """Small batches (Klaviyo: one batch in many small jobs), the poison in a later one: the
    batches before and after it go once, and only the poison record fails."""
    from nextsale.sync.destinations import DESTINATIONS

    if vendor == "klaviyo":  # one batch, posted as many small jobs
        monkeypatch.setattr(DESTINATIONS[vendor], "max_job_bytes", 20_000)
    else:
        monkeypatch.setattr(DESTINATIONS[vendor], "batch_size", 25)
    people = identity(vendor, warehouse)
    server.faults.poison_records = {people[len(people) // 2]}
    result = run(vendor, warehouse, server)
    assert result.log["failed"] == 1
    assert sorted(delivered(vendor, server)) == [p for p in people if p != people[len(people) // 2]]
    assert set(delivered(vendor, server).values()) == {1}


def last_log(warehouse: Path) -> tuple[str, str | None]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select status, message from sync.log order by started_at desc limit 1"
        ).fetchone()


def test_a_retry_after_past_the_cap_fails_the_run_at_once(vendor, warehouse, server):
    server.faults.throttle, server.faults.retry_after = 1, 3600
    started = time.monotonic()
    with pytest.raises(SyncError, match="asks to wait 3600 s"):
        run(vendor, warehouse, server)
    assert time.monotonic() - started < 30
    status, message = last_log(warehouse)
    assert status == "failed" and "Retry-After" in message


def test_an_answer_later_than_the_timeout_never_leaves_a_run_running(vendor, warehouse, server):
    """An upsert answered late is sent again (it is idempotent); a create answered late stops the
    run, logged as failed. Either way the next run delivers everyone."""
    server.faults.slow, server.faults.slow_seconds = 1, 1.0
    late = {"backoff_seconds": 0.01, "timeout_seconds": 0.3}
    try:
        result = sync(
            vendor, warehouse, env=env_for(vendor, server), poll_seconds=0.01, client_options=late
        )
        assert result.log["status"] == "success" and result.log["retried"] >= 1
    except SyncError as error:
        status, message = last_log(warehouse)
        assert "Timeout" in str(error) and status == "failed" and "Timeout" in message
    assert run(vendor, warehouse, server).log["status"] == "success"
    assert sorted(delivered(vendor, server)) == identity(vendor, warehouse)


def test_credentials_a_vendor_echoes_back_are_redacted_before_they_are_stored(vendor, warehouse):
    from nextsale.sync.engine import destination_for
    from nextsale.sync.http import REDACTED, Client
    from nextsale.sync.state import Outcome, SyncState

    destination = destination_for(vendor, {CREDENTIALS[vendor][0]: TOKEN})
    client = Client("http://127.0.0.1:9", destination.headers(), {})
    echoed = f"401: bad header {destination.headers()}"
    assert TOKEN in echoed and TOKEN not in client.redact(echoed)
    with duckdb.connect(str(warehouse)) as con:
        state = SyncState(con, vendor, "run-1", client.redact)
        state.record_failures("upsert", [Outcome("k", False, status_code=400, message=echoed)])
        state.write_log({"run_id": "run-1", "destination": vendor, "message": echoed})
        stored = str(con.execute("select * from sync.failures").fetchall())
        stored += str(con.execute("select * from sync.log").fetchall())
    assert TOKEN not in stored and REDACTED in stored


def test_an_audience_table_with_nobody_sendable_sends_and_removes_nothing(
    vendor, warehouse, server
):
    run(vendor, warehouse, server)  # the destination now holds nextsale's records
    before = len(server.received)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update activation.audience_members set is_sendable = false")
    with pytest.raises(SyncError, match="no audience has anyone who may be sent"):
        run(vendor, warehouse, server)
    assert len(server.received) == before
    with duckdb.connect(str(warehouse)) as con:
        con.execute("drop table activation.audience_members")
    with pytest.raises(SyncError, match="no activation.audience_members table"):
        run(vendor, warehouse, server)


def test_a_first_sync_of_an_audience_table_with_nobody_sendable_goes_on(vendor, warehouse, server):
    # nothing was ever sent there, so nothing can be emptied: a shop without consent data
    # still gets its first run, and no list is given anyone
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update activation.audience_members set is_sendable = false")
    assert run(vendor, warehouse, server).log["status"] == "success"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from sync.memberships").fetchone()[0] == 0


def test_the_cli_passes_mirror_to_the_engine(vendor, warehouse, server, monkeypatch):
    from click.testing import CliRunner

    from nextsale.cli import main

    run(vendor, warehouse, server)
    table, key, _ = TABLES[vendor]
    with duckdb.connect(str(warehouse)) as con:
        (gone,) = con.execute(
            f'select "{key}" from activation.{table} order by 1 limit 1'
        ).fetchone()
        con.execute(f'delete from activation.{table} where "{key}" = ?', [gone])
    monkeypatch.setenv("NEXTSALE_DUCKDB_PATH", str(warehouse))
    for variable, value in env_for(vendor, server).items():
        monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(main, ["sync", vendor, "--mirror"])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "select deleted, mirror from sync.log order by started_at desc limit 1"
        ).fetchone() == (1, True)
