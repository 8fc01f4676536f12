"""The sync tests' shared parts: the activation tables of the session's pipeline, a copy
per test, a local vendor server per test, and what a run sent and kept."""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from pathlib import Path

import duckdb
import pytest

from nextsale.sync import DESTINATIONS, sync
from tests.support.vendors import SERVERS, VendorServer

TOKEN = "s3cret-token-that-must-never-leak"
# from the destination registry: a destination added there is tested here
CREDENTIALS = {n: (d.token_env, d.base_url_env[-1]) for n, d in DESTINATIONS.items()}
TABLES = {n: (d.table.split(".")[1], d.key, d.email) for n, d in DESTINATIONS.items()}


@pytest.fixture(scope="session")
def activation_tables(activation_run, pipeline_settings, tmp_path_factory) -> Path:
    """The activation schema of the pipeline's warehouse, with the raw consent tables its
    watermark is checked against and the generated-data marker, in a small file of its own."""
    assert activation_run.success
    path = tmp_path_factory.mktemp("activation") / "template.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(f"attach '{pipeline_settings.duckdb_path}' as pipeline (read_only)")
        con.execute("create schema activation; create schema raw")
        for (table,) in con.execute(
            "select table_name from duckdb_tables() where database_name = 'pipeline' "
            "and schema_name = 'activation'"
        ).fetchall():
            con.execute(
                f"create table activation.{table} as select * from pipeline.activation.{table}"
            )
        for table in ("crm_contacts", "crm_erasure_requests", "_provenance"):
            con.execute(f"create table raw.{table} as select * from pipeline.raw.{table}")
    return path


@pytest.fixture
def warehouse(activation_tables, tmp_path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(activation_tables, path)
    return path


@pytest.fixture
def server(vendor):
    with SERVERS[vendor](token=TOKEN) as running:
        yield running
    assert running.invalid_requests == [], "requests the vendor's spec refuses"
    assert running.invalid_responses == [], "answers the vendor's spec does not allow"


@pytest.fixture
def servers(monkeypatch):
    """A local server for every destination, and the environment pointing each at its own: what
    the Dagster sync assets and `nextsale sync` read."""
    with ExitStack() as stack:
        running = {name: stack.enter_context(SERVERS[name](token=TOKEN)) for name in DESTINATIONS}
        for name, server in running.items():
            for variable, value in env_for(name, server).items():
                monkeypatch.setenv(variable, value)
        yield running
    for server in running.values():
        assert server.invalid_requests == [] and server.invalid_responses == []


def env_for(vendor: str, server: VendorServer) -> dict[str, str]:
    token, url = CREDENTIALS[vendor]
    return {token: TOKEN, url: server.url}


def run(vendor: str, warehouse: Path, server: VendorServer, **kwargs):
    return sync(
        vendor,
        warehouse,
        env=env_for(vendor, server),
        poll_seconds=0.01,
        client_options={"backoff_seconds": 0.01},
        **kwargs,
    )


def keys(warehouse: Path, vendor: str, where: str = "true") -> list[str]:
    table, key, _ = TABLES[vendor]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [
            r[0]
            for r in con.execute(f'select "{key}" from activation.{table} where {where}').fetchall()
        ]


def delivered(vendor: str, server: VendorServer) -> dict[str, int]:
    """How many times the server applied each person's record (HubSpot and Klaviyo key on
    email, Salesforce on the external id); list additions are not profile deliveries."""
    return {k: n for k, n in server.applied.items() if "|" not in k}


def identity(vendor: str, warehouse: Path, where: str = "true") -> list[str]:
    table, key, email = TABLES[vendor]
    column = key if vendor == "salesforce" else email
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return sorted(
            r[0]
            for r in con.execute(
                f'select "{column}" from activation.{table} where {where}'
            ).fetchall()
        )
