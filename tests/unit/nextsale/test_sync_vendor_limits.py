"""What only one vendor has: Klaviyo's asynchronous import jobs and Salesforce's per-org host.
The fixtures and helpers are test_sync's (real activation tables, a spec-validating server)."""

from __future__ import annotations

import duckdb
import pytest

from nextsale.sync import SyncError, sync
from tests.support.sync import TOKEN, activation_tables, delivered, identity, run, warehouse
from tests.support.vendors import KlaviyoServer

__all__ = ["activation_tables", "warehouse"]  # fixtures, used by name


@pytest.fixture
def klaviyo():
    with KlaviyoServer(token=TOKEN) as running:
        yield running
    assert running.invalid_requests == [] and running.invalid_responses == []


def test_a_klaviyo_job_that_never_finishes_is_left_journalled_for_the_next_run(warehouse, klaviyo):
    klaviyo.faults.stuck_jobs = True
    with pytest.raises(SyncError, match="stays journalled"):
        run("klaviyo", warehouse, klaviyo, job_timeout_seconds=0.2)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from sync.pending_jobs").fetchone()[0] == 1
    klaviyo.faults.stuck_jobs = False
    assert run("klaviyo", warehouse, klaviyo).log["status"] == "success"
    assert sorted(delivered("klaviyo", klaviyo)) == identity("klaviyo", warehouse)


def test_a_salesforce_token_without_its_instance_url_is_an_error_not_a_placeholder(warehouse):
    with pytest.raises(SyncError, match="SALESFORCE_INSTANCE_URL is not"):
        sync("salesforce", warehouse, env={"SALESFORCE_ACCESS_TOKEN": TOKEN})
