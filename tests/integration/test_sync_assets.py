"""The sync assets in Dagster, on a copy of the session's warehouse: credentials from the
environment, the blocking audience check, the sync log as metadata, dry runs without tokens, and
a consent flag flipped in the CRM taking the person off their email audiences at the vendors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.dbt import dbt_cli
from nextsale.config import Settings, dbt_vars
from nextsale.summary import read_summary
from nextsale.sync import DESTINATIONS
from tests.conftest import settings_for
from tests.support.sync import servers

__all__ = ["servers"]  # a fixture, used by name

SYNC_KEYS = [dg.AssetKey(["sync", name]) for name in DESTINATIONS]


@pytest.fixture
def copied(activation_run, pipeline_settings, tmp_path, monkeypatch) -> Settings:
    """The whole pipeline warehouse, copied: dbt reruns on it must not disturb other tests."""
    assert activation_run.success
    settings = settings_for(tmp_path, pipeline_settings.landing_dir)
    shutil.copy(pipeline_settings.duckdb_path, settings.duckdb_path)
    monkeypatch.setenv("NEXTSALE_DUCKDB_PATH", str(settings.duckdb_path))
    for destination in DESTINATIONS.values():
        for variable in (destination.token_env, *destination.base_url_env):
            monkeypatch.delenv(variable, raising=False)
    return settings


def materialize_syncs(settings: Settings) -> dg.ExecuteInProcessResult:
    from dagster_project.assets.sync import audiences_not_empty
    from dagster_project.definitions import build_definitions

    # the syncs and the blocking check they wait for (the tables themselves are built already)
    job = dg.define_asset_job(
        "syncs",
        selection=dg.AssetSelection.assets(*SYNC_KEYS)
        | dg.AssetSelection.checks(audiences_not_empty),
    )
    defs = dg.Definitions.merge(build_definitions(settings), dg.Definitions(jobs=[job]))
    return defs.resolve_job_def("syncs").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )


def sync_metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    metadata = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        values = {k: v.value for k, v in materialization.metadata.items()}
        metadata[materialization.asset_key.path[-1]] = values
    return metadata


def test_sync_assets_send_everything_with_the_log_as_metadata(copied, servers):
    result = materialize_syncs(copied)
    assert result.success
    metadata = sync_metadata(result)
    assert set(metadata) == {"hubspot", "klaviyo", "salesforce"}
    for name, values in metadata.items():
        assert values["status"] == "success" and values["sent"] == values["rows_in_table"] > 0, name
        assert values["failed"] == 0 and "No record failed" in values["failures"]
    assert len(servers["hubspot"].contacts) == metadata["hubspot"]["sent"]
    syncs = read_summary(copied.duckdb_path).last_syncs  # what `nextsale summary` prints
    assert [(name, status) for name, status, *_ in syncs] == [
        ("hubspot", "success"),
        ("klaviyo", "success"),
        ("salesforce", "success"),
    ]
    again = sync_metadata(materialize_syncs(copied))
    assert all(values["sent"] == 0 for values in again.values())
    # the asset's sync log lists this run and the one before, newest first
    assert all(values["sync_log"].count("| success |") == 2 for values in again.values())


def test_without_tokens_the_sync_assets_are_dry_runs(copied):
    result = materialize_syncs(copied)
    assert result.success
    for name, values in sync_metadata(result).items():
        assert values["status"] == "dry run"
        files = sorted(Path(values["dry_run_requests"]).glob("*.json"))
        assert len(files) == values["requests"] > 0, name
        assert {"method", "path", "headers", "body"} <= set(json.loads(files[0].read_text()))


def test_an_empty_audience_warns_and_holds_back_every_destination_already_sent_to(copied, servers):
    assert materialize_syncs(copied).success
    received = {name: len(server.received) for name, server in servers.items()}
    with duckdb.connect(str(copied.duckdb_path)) as con:
        con.execute("update activation.audience_members set is_sendable = false")
    result = materialize_syncs(copied)
    (check,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "audiences_not_empty"
    ]
    assert check.passed is False and check.severity == dg.AssetCheckSeverity.WARN
    assert "refuses this build" in check.description
    # the syncs ran and refused: nothing new reached a destination that holds nextsale's records
    assert not result.get_asset_materialization_events()
    assert {name: len(server.received) for name, server in servers.items()} == received


def test_a_first_sync_of_an_audience_table_with_nobody_sendable_is_not_refused(copied):
    with duckdb.connect(str(copied.duckdb_path)) as con:
        con.execute("update activation.audience_members set is_sendable = false")
    result = materialize_syncs(copied)
    assert result.success  # a warning: nothing was ever sent there, so nothing can be emptied
    assert {v["status"] for v in sync_metadata(result).values()} == {"dry run"}


def test_a_consent_flag_flipped_to_false_takes_the_person_off_email_audiences(copied, servers):
    materialize_syncs(copied)
    database = copied.duckdb_path
    with duckdb.connect(str(database)) as con:
        email, audience = con.execute(
            "select p.email, a.audience from activation.audience_members a "
            "join activation.klaviyo__profiles p on p.external_id = a.customer_key "
            "where a.is_sendable and a.channel = 'email' order by 1 limit 1"
        ).fetchone()
        con.execute(
            "update raw.crm_contacts set email_opt_in = false where lower(email) = ?", [email]
        )
    klaviyo, hubspot = servers["klaviyo"], servers["hubspot"]
    assert email in klaviyo.members(f"nextsale: {audience}")
    assert audience in hubspot.contacts[email]["nextsale_audiences"]
    # the CRM change reaches the activation tables the way the daily run does: through dbt
    dbt_cli(copied).cli(
        [
            "build",
            *("--vars", json.dumps(dbt_vars(copied.duckdb_path))),
            "--select",
            "stg_crm__contact_versions+,+tag:activation",
            "--exclude-resource-type",
            "unit_test",
        ]
    ).wait()
    with duckdb.connect(str(database), read_only=True) as con:
        assert not con.execute(
            "select count(*) from activation.audience_members a join activation.klaviyo__profiles p "
            "on p.external_id = a.customer_key where p.email = ? and a.is_sendable and a.channel = 'email'",
            [email],
        ).fetchone()[0]
    assert materialize_syncs(copied).success
    assert email not in klaviyo.members(f"nextsale: {audience}")
    assert audience not in (hubspot.contacts[email].get("nextsale_audiences") or "")


def _people(con) -> list[tuple[str, str | None, str]]:
    """(customer_key, shop account id or None, email) of each person synced to Salesforce."""
    return con.execute(
        """select s.Nextsale_Customer_Key__c,
                  max(case when k.identifier_type = 'customer_id'
                           then substr(k.node_id, length('customer_id:') + 1) end),
                  s.Email
        from activation.salesforce__contacts s
        join intermediate.int_identity__customer_keys k on k.customer_key = s.Nextsale_Customer_Key__c
        where s.Email is not null
        group by all order by 1"""
    ).fetchall()


def test_keys_never_change_under_a_person_and_a_merge_leaves_one_record(copied, servers):
    """A new cookie logging in to a synced account keeps the person's key, so the next sync
    updates their one record; two known people found to be one keep the older key, and the
    other's record is removed at the destination."""
    assert materialize_syncs(copied).success
    salesforce = servers["salesforce"]
    with duckdb.connect(str(copied.duckdb_path)) as con:
        people = _people(con)
        (as_of,) = con.execute(
            "select max(as_of_date) from intermediate.int_calendar__cutoffs"
        ).fetchone()
        shopper, shopper_account, _ = next(p for p in people if p[1])
        account, guest = (
            [p for p in people if p[1] and p[0] != shopper][0],
            next(p for p in people if not p[1]),
        )
        day_before = f"{as_of} 00:00:00+00"
        con.execute(
            "insert into raw.web_events by name select 'new-cookie-event' as event_id, "
            "?::timestamptz - interval 1 day as event_ts, 'a-brand-new-cookie' as anonymous_id, "
            "? as user_id, 'new-session' as session_id, 'page_view' as event_name, "
            "'test' as _source_file, 1 as _row_number, now() as _loaded_at",
            [day_before, shopper_account],
        )
        # the account holder checks out with the guest's email: the two are one person
        con.execute(
            "insert into raw.shop_orders by name select 'merge-order' as order_id, "
            "? as customer_id, ? as email, ?::timestamptz - interval 1 day as created_at, "
            "'USD' as currency, 10 as subtotal, 0 as discount, 0 as shipping, 10 as total, "
            "'paid' as status, false as is_test, 'test' as _source_file, 1 as _row_number, "
            "now() as _loaded_at",
            [account[1], guest[2], day_before],
        )
    assert {shopper, account[0], guest[0]} <= set(salesforce.records)
    dbt_cli(copied).cli(
        [
            "build",
            *("--vars", json.dumps(dbt_vars(copied.duckdb_path))),
            "--select",
            "stg_web__events+,+tag:activation stg_shop__orders+,+tag:activation",
            "--exclude-resource-type",
            "unit_test",
        ]
    ).wait()
    with duckdb.connect(str(copied.duckdb_path), read_only=True) as con:
        keys_now = dict(
            con.execute(
                "select node_id, customer_key from intermediate.int_identity__customer_keys "
                "where node_id in (?, ?)",
                ["anonymous_id:a-brand-new-cookie", f"customer_id:{shopper_account}"],
            ).fetchall()
        )
        (retired,) = con.execute(
            "select retired_customer_key, surviving_customer_key "
            "from activation.retired_customer_keys"
        ).fetchall()
    assert set(keys_now.values()) == {shopper}  # the new cookie joined under the old key
    survivor = min(account[0], guest[0])  # both keys were given in one run: the smaller stays
    assert retired == (max(account[0], guest[0]), survivor)

    assert materialize_syncs(copied).success
    assert (
        sum(r.get("Nextsale_Customer_Key__c") == shopper for r in salesforce.records.values()) == 1
    )
    assert retired[0] not in salesforce.records and retired[0] in salesforce.deleted
    assert survivor in salesforce.records
