"""Reverse ETL as assets: one sync per destination, run after the activation tables (published
only when their consent tests passed); the engine's own guard (nextsale.sync.engine.refusals),
the same for the CLI, refuses a build that may not be sent. Without credentials a sync is a
dry run whose planned requests land under the artifacts folder."""

import shutil
from typing import Any

import dagster as dg

from dagster_project.assets import DAILY_FRESHNESS
from dagster_project.assets.dbt import dbt_model_key
from dagster_project.resources import WarehouseResource
from nextsale.sync import DESTINATIONS, SyncError, sync
from nextsale.sync.engine import AUDIENCE_COUNTS
from nextsale.sync.state import recent_runs
from nextsale.warehouse import pull_schema

AUDIENCES = dbt_model_key("published__audience_members")
ERASURES = dbt_model_key("erasure_requests")
RETIRED_KEYS = dbt_model_key("retired_customer_keys")
SUPPRESSIONS = dbt_model_key("suppressions")
WATERMARK = dbt_model_key("published__consent_watermark")


class SyncDestination(dg.ConfigurableResource):
    """A destination's credentials and address. Set them with environment variables (see
    `sync_destinations`): Dagster shows the variable's name in the UI, never its value."""

    token: str | None = None
    base_url: str | None = None

    def env(self, name: str) -> dict[str, str]:
        destination = DESTINATIONS[name]
        values = {destination.token_env: self.token, destination.base_url_env[0]: self.base_url}
        return {k: v for k, v in values.items() if v}


def sync_destinations(environ: dict[str, str]) -> dict[str, SyncDestination]:
    """One resource per destination, reading each set variable through EnvVar; an unset token
    stays None, which makes that destination's sync a dry run."""

    def env_var(name: str) -> dg.EnvVar | None:
        return dg.EnvVar(name) if environ.get(name) else None

    resources = {}
    for name, destination in DESTINATIONS.items():
        base_url = next((v for v in destination.base_url_env if environ.get(v)), None)
        resources[f"{name}_destination"] = SyncDestination(
            token=env_var(destination.token_env), base_url=env_var(base_url) if base_url else None
        )
    return resources


@dg.asset_check(
    asset=AUDIENCES,
    description="Some audience has people who may be sent. A warning, not a stop: the syncs' own "
    "guard (nextsale.sync.engine.refusals) refuses to send an audience table with nobody "
    "sendable to a destination that holds records nextsale sent, so its lists are not emptied; "
    "a destination never sent to has nothing to empty, and its first (dry) run goes on.",
)
def audiences_not_empty(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    rows = warehouse.client().query(AUDIENCE_COUNTS).itertuples(index=False)
    rows = [(a, int(s), int(n)) for a, s, n in rows]
    sendable = sum(r[1] for r in rows)
    reasons = dict(
        warehouse.client()
        .query("select audience, coalesce(status_reason, '') from activation.audience_status")
        .itertuples(index=False)
    )
    # every audience of the rules, the empty ones too (activation.audience_status)
    rows += [(a, 0, 0) for a in sorted(set(reasons) - {r[0] for r in rows})]
    return dg.AssetCheckResult(
        passed=sendable > 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if sendable
        else f"No audience has anyone who may be sent ({sum(r[2] for r in rows):,} members, all "
        "held back by consent, suppression, holdout or the cap). A destination that holds "
        "records nextsale sent refuses this build, so its lists are not emptied; check "
        "activation.audience_status, scores.customer_scores and the consent flags.",
        metadata={
            "sendable_members": sendable,
            "audiences": dg.MetadataValue.md(
                "| audience | sendable | members | why |\n|---|---:|---:|---|\n"
                + "\n".join(
                    f"| {a} | {s:,} | {n:,} | {reasons.get(a, '')} |" for a, s, n in sorted(rows)
                )
            ),
        },
    )


def failures_table(failures: list[dict], limit: int = 20) -> str:
    if not failures:
        return "No record failed."
    rows = "\n".join(
        f"| {f['record_key']} | {f['status_code'] or ''} | {(f['message'] or '')[:200]} |"
        for f in failures[:limit]
    )
    more = (
        f"\n\n… and {len(failures) - limit:,} more in `sync.failures`."
        if len(failures) > limit
        else ""
    )
    return f"| record | status | the vendor's message |\n|---|---:|---|\n{rows}{more}"


def sync_log_table(runs) -> str:
    """The destination's latest runs (sync.log), newest first, as Markdown."""
    rows = "\n".join(
        f"| {r.finished_at:%Y-%m-%d %H:%M} | {r.status} | {r.planned_upserts:,} | "
        f"{r.planned_deletes:,} | {r.sent:,} | {r.failed:,} | {r.deleted:,} | {r.requests:,} | "
        f"{r.retried:,} | {r.throttled:,} | {r.duration_s:.1f} | {(r.message or '')[:120]} |"
        for r in runs.itertuples()
    )
    return (
        "| finished (UTC) | status | to upsert | to delete | sent | failed | deleted | requests "
        "| retried | throttled | seconds | message |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n" + rows
    )


def build_sync_asset(name: str) -> dg.AssetsDefinition:
    destination = DESTINATIONS[name]
    table = dg.AssetKey(destination.table.split("."))
    resource_key = f"{name}_destination"

    @dg.asset(
        key=["sync", name],
        group_name="sync",
        kinds={name},
        deps=[table, AUDIENCES, ERASURES, RETIRED_KEYS, SUPPRESSIONS, WATERMARK],
        required_resource_keys={resource_key, "warehouse"},
        description=f"Sends new and changed rows of {destination.table} to {name}, deletes "
        "erased people (every address) and records under retired customer keys there, empties "
        "what it holds of do-not-contact people, and logs the run in sync.log (failures in "
        "sync.failures). Refuses to send from activation tables older than the latest consent "
        f"load, applying erasures and suppressions only. Without {destination.token_env} it is "
        "a dry run.",
        freshness_policy=DAILY_FRESHNESS,
        check_specs=[
            dg.AssetCheckSpec(
                "no_failed_records",
                asset=["sync", name],
                description=f"{name} accepted every record (warns; each refused record is in "
                "sync.failures with the vendor's message and is retried on the next run).",
            )
        ],
    )
    def _sync(context: dg.AssetExecutionContext):
        warehouse: WarehouseResource = context.resources.warehouse
        credentials: SyncDestination = getattr(context.resources, resource_key)
        env = credentials.env(name)
        dry_run_dir = None
        if destination.token_env not in env:
            dry_run_dir = warehouse.artifacts / "sync" / name / "dry-run"
            shutil.rmtree(dry_run_dir, ignore_errors=True)
        try:
            # the engine diffs in the DuckDB file; on a server target it gets the tables first
            pull_schema(warehouse.client(), warehouse.database, "activation")
            result = sync(name, warehouse.database, env=env, dry_run_dir=dry_run_dir)
        except SyncError as error:
            raise dg.Failure(description=str(error)) from None
        log = result.log
        context.log.info(
            f"{name}: {log['status']}; {log['planned_upserts']:,} to upsert, "
            f"{log['planned_deletes']:,} to delete, sent {log['sent']:,}, failed {log['failed']:,}"
        )
        numbers = (
            "rows_in_table",
            "planned_upserts",
            "planned_deletes",
            "planned_clears",
            "sent",
            "failed",
            "deleted",
            "cleared",
            "requests",
            "retried",
            "throttled",
        )
        metadata: dict[str, Any] = {k: dg.MetadataValue.int(int(log.get(k) or 0)) for k in numbers}
        metadata |= {
            "run_id": log["run_id"],
            "status": log["status"],
            "duration_s": dg.MetadataValue.float(float(log["duration_s"])),
            "diff_s": dg.MetadataValue.float(float(log.get("diff_s") or 0.0)),
            "failures": dg.MetadataValue.md(failures_table(result.failures)),
            "sync_log": dg.MetadataValue.md(sync_log_table(recent_runs(warehouse.database, name))),
        }
        if dry_run_dir is not None:
            metadata["dry_run_requests"] = dg.MetadataValue.path(str(dry_run_dir))
        yield dg.MaterializeResult(metadata=metadata)
        yield dg.AssetCheckResult(
            check_name="no_failed_records",
            passed=not result.failures,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"failed": len(result.failures)},
        )

    return _sync


sync_assets = [build_sync_asset(name) for name in DESTINATIONS]
