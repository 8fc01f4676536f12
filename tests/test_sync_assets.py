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
from dagster_dbt import DbtCliResource

from dagster_project.dbt import dbt_project
from nextsale.config import Settings
from nextsale.summary import read_summary
from nextsale.sync.local_vendors import HubSpotServer, KlaviyoServer, SalesforceServer
from tests.conftest import settings_for

TOKEN = "dagster-sync-token"
SYNC_KEYS = [dg.AssetKey(["sync", name]) for name in ("hubspot", "klaviyo", "salesforce")]


@pytest.fixture
def copied(activation_run, pipeline_settings, tmp_path, monkeypatch) -> Settings:
    """The whole pipeline warehouse, copied: dbt reruns on it must not disturb other tests."""
    assert activation_run.success
    settings = settings_for(tmp_path, pipeline_settings.landing_dir)
    shutil.copy(pipeline_settings.duckdb_path, settings.duckdb_path)
    monkeypatch.setenv("NEXTSALE_DUCKDB_PATH", str(settings.duckdb_path))
    for name in ("HUBSPOT", "KLAVIYO", "SALESFORCE"):
        for suffix in ("ACCESS_TOKEN", "API_KEY", "BASE_URL", "INSTANCE_URL"):
            monkeypatch.delenv(f"{name}_{suffix}", raising=False)
    return settings


@pytest.fixture
def servers(monkeypatch):
    with (
        HubSpotServer(token=TOKEN) as h,
        KlaviyoServer(token=TOKEN) as k,
        SalesforceServer(token=TOKEN) as s,
    ):
        for variable, value in {
            "HUBSPOT_ACCESS_TOKEN": TOKEN, "HUBSPOT_BASE_URL": h.url,
            "KLAVIYO_API_KEY": TOKEN, "KLAVIYO_BASE_URL": k.url,
            "SALESFORCE_ACCESS_TOKEN": TOKEN, "SALESFORCE_INSTANCE_URL": s.url,
        }.items():  # fmt: skip
            monkeypatch.setenv(variable, value)
        yield {"hubspot": h, "klaviyo": k, "salesforce": s}
        for server in (h, k, s):
            assert server.invalid_requests == [] and server.invalid_responses == []


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


def test_an_empty_audience_blocks_every_sync(copied, servers):
    with duckdb.connect(str(copied.duckdb_path)) as con:
        con.execute("update activation.audience_members set is_sendable = false")
    result = materialize_syncs(copied)
    (check,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "audiences_not_empty"
    ]
    assert check.passed is False
    assert "every sync is held back" in check.description
    assert not result.get_asset_materialization_events()
    assert all(not server.received for server in servers.values())


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
    DbtCliResource(project_dir=dbt_project, target="duckdb").cli(
        [
            "build",
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
