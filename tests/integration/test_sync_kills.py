"""Effectively once: a `nextsale sync` process killed with SIGKILL at random moments, then run
again, has every record applied at the vendor and nothing created twice.

Each trial starts from an empty destination and an empty sync state (every record is a
creation), kills the sync at a random moment of its run, and resumes it. Upserts by key may be
delivered twice (idempotent); a creation (HubSpot contact, Salesforce record, Klaviyo import
job) must not be. The child is forked from this process, so the trial costs the sync and not the
interpreter's start; it is a process of its own, killed for real mid-request or mid-checkpoint.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import signal
import time
from collections import Counter

import duckdb
import pytest

from tests.support.sync import (
    TABLES,
    activation_tables,
    delivered,
    env_for,
    identity,
    run,
    server,
    warehouse,
)

__all__ = ["activation_tables", "server", "warehouse"]  # fixtures, used by name
TRIALS = int(os.environ.get("NEXTSALE_KILL_TRIALS", "20"))
FORK = multiprocessing.get_context("fork")


def cli_sync(vendor: str, env: dict[str, str]) -> None:
    """The child: `nextsale sync VENDOR`, as a user runs it."""
    from nextsale.cli import main

    os.environ.update(env)
    main(["sync", vendor], standalone_mode=False)


def forget_everything(vendor: str, server) -> None:
    """An empty account: nothing held, nothing received."""
    for name in ("contacts", "ids", "profiles", "profile_ids", "lists", "jobs", "records"):
        getattr(server, name, {}).clear()
    for name in ("received", "erased", "deleted"):
        getattr(server, name, []).clear()
    server.applied.clear()
    server.created.clear()


def duplicate(counts: Counter) -> int:
    return sum(n - 1 for n in counts.values() if n > 1)


@pytest.mark.parametrize("vendor", list(TABLES))
def test_a_sync_killed_at_random_moments_applies_everything_and_creates_nothing_twice(
    vendor, warehouse, server, tmp_path
):
    pristine = tmp_path / "pristine.duckdb"
    shutil.copy(warehouse, pristine)
    env = {
        **env_for(vendor, server),
        "NEXTSALE_DUCKDB_PATH": str(warehouse),
        "NEXTSALE_ARTIFACTS_DIR": str(tmp_path),
    }
    started = time.monotonic()
    child = FORK.Process(target=cli_sync, args=(vendor, env))
    child.start()
    child.join(timeout=60)
    whole = time.monotonic() - started  # how long one whole sync process takes here
    assert child.exitcode == 0
    everyone = identity(vendor, warehouse)
    rng = random.Random(f"kills-{vendor}")
    table = []
    for _ in range(TRIALS):
        shutil.copy(pristine, warehouse)
        forget_everything(vendor, server)
        child = FORK.Process(target=cli_sync, args=(vendor, env))
        child.start()
        time.sleep(rng.uniform(0.0, whole))
        killed = child.is_alive()
        if killed:
            os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=60)
        before = len(delivered(vendor, server))
        result = run(vendor, warehouse, server)  # the restart
        assert result.log["status"] == "success"
        profiles = Counter(delivered(vendor, server))
        creations = (
            duplicate(server.applied)  # every Klaviyo delivery is an import job
            if vendor == "klaviyo"
            else duplicate(server.created)
        )
        table.append((killed, before, len(profiles), duplicate(profiles), creations))
        assert sorted(profiles) == everyone, "every record reaches the vendor"
        assert creations == 0, "nothing is created twice"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        logged = con.execute("select count(*) from sync.log").fetchone()[0]
    assert logged >= 1
    kills = [row for row in table if row[0]]
    print(
        f"\n{vendor}: {len(kills)} kills of {TRIALS} trials (a sync takes {whole:.2f} s); "
        f"records applied {sum(r[2] for r in table)} of {len(everyone) * TRIALS}; "
        f"duplicate record deliveries {sum(r[3] for r in kills)} "
        f"({sum(r[3] for r in kills) / max(len(kills), 1):.1f} per kill); "
        f"duplicate creations {sum(r[4] for r in table)}"
    )
    assert len(kills) >= TRIALS // 2, "most trials were killed part-way"


@pytest.mark.parametrize("vendor", ["hubspot"])
def test_a_killed_run_leaves_its_log_row(vendor, warehouse, server, tmp_path):
    """sync.log is written when a run starts and after every batch."""
    env = {
        **env_for(vendor, server),
        "NEXTSALE_DUCKDB_PATH": str(warehouse),
        "NEXTSALE_ARTIFACTS_DIR": str(tmp_path),
    }
    child = FORK.Process(target=cli_sync, args=(vendor, env))

    def kill_after_three_batches(number: int) -> None:
        if len([r for r in server.received if r.applied]) == 3 and child.is_alive():
            os.kill(child.pid, signal.SIGKILL)

    server.faults.on_request = kill_after_three_batches
    child.start()
    child.join(timeout=60)
    server.faults.on_request = None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        status, sent, finished = con.execute(
            "select status, sent, finished_at from sync.log"
        ).fetchone()
    assert (status, finished) == ("running", None) and sent >= 200
