"""One asset per raw source table: validate the landing files and load them into raw.*."""

import dagster as dg

from dagster_project.resources import WarehouseResource
from nextsale.contracts import CONTRACTS, Contract
from nextsale.ingest import TableLoad, ingest_table, reconcile
from nextsale.warehouse import publish_raw

ROWS_RECONCILE = "rows_reconcile"
FILES_LOADED = "files_loaded"


def _files_table(load: TableLoad, contract: Contract) -> str:
    if not load.files:
        return (
            f"No landing files in `{contract.folder}/`: raw.{contract.table} is empty. It feeds "
            f"{contract.feeds or 'nothing else'}."
        )
    lines = [
        "| file | status | lines | rows in | kept | quarantined | note |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for f in load.files:
        notes = [*f.notes]
        if f.extra_columns:
            notes.append(f"new columns: {', '.join(f.extra_columns)}")
        if f.blank_lines:
            notes.append(f"{f.blank_lines} blank line(s) skipped")
        note = f.error or "; ".join(notes)
        lines.append(
            f"| {f.file} | {f.status} | {f.lines_in} | {f.rows_in} | {f.rows_kept} "
            f"| {f.rows_quarantined} | {note} |"
        )
    return "\n".join(lines)


def _reasons_table(load: TableLoad) -> str:
    """Why rows are quarantined: this run's files beside the whole table (a re-run on unchanged
    files quarantines nothing new, while the table still holds what earlier runs set aside)."""
    if not load.table_quarantine:
        return "No rows quarantined."
    lines = ["| reason | rows in the table | from this run's files |", "|---|---:|---:|"]
    lines += [
        f"| {reason} | {n:,} | {load.reasons.get(reason, 0):,} |"
        for reason, n in load.table_quarantine.most_common()
    ]
    return "\n".join(lines)


HELD_BACK = "The dbt models built from raw.{table} are held back this run."


def _files_problem(contract: Contract, load: TableLoad, landing: str) -> str | None:
    held = HELD_BACK.format(table=contract.table)
    if load.rejected:
        rejected = "; ".join(f.error or f.file for f in load.rejected)
        return (
            f"Rejected whole: {rejected}. {held} The other files were loaded; fix or remove the "
            "rejected ones and run again."
        )
    if not load.files and not contract.optional:
        return (
            f"No landing files in {landing}/{contract.folder}. {held} See README 'Your own data'."
        )
    return None


def build_ingest_asset(contract: Contract) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", contract.table])

    @dg.asset(
        key=key,
        group_name="ingest",
        kinds={"python", "duckdb"},
        description=f"{contract.description} Loaded from landing folder `{contract.folder}/`; "
        f"rejected rows go to `raw_quarantine.{contract.table}` with a reason.",
        check_specs=[
            dg.AssetCheckSpec(
                ROWS_RECONCILE,
                asset=key,
                blocking=True,
                description="Rows in = rows kept + rows quarantined, for every loaded file "
                "(each file's lines were already reconciled against a count made apart from "
                "the parser when it loaded).",
            ),
            dg.AssetCheckSpec(
                FILES_LOADED,
                asset=key,
                blocking=True,
                description="Every landing file could be loaded (no missing required column, "
                "no empty, undecodable or truncated file, no lines the parser lost).",
            ),
        ],
    )
    def _ingest(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        load = ingest_table(warehouse.database, contract, warehouse.landing)
        mismatches = reconcile(warehouse.database, contract)
        # on a server target dbt reads raw from there: send it the validated rows
        publish_raw(warehouse.database, warehouse.client(), [contract.table])
        problem = _files_problem(contract, load, warehouse.landing_dir)
        if not load.files and contract.optional:
            context.log.info(
                f"No landing files in {contract.folder}/ (optional): raw.{contract.table} is "
                f"empty, so {contract.feeds or 'nothing it feeds'} stays empty or null."
            )
        if load.extra_columns:
            context.log.warning(
                f"{contract.table}: columns not in the contract were kept: {load.extra_columns}"
            )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": load.table_rows,
                "rows_in": load.total("rows_in"),
                "rows_kept": load.total("rows_kept"),
                "rows_quarantined": load.total("rows_quarantined"),
                "table_rows_quarantined": load.table_quarantine.total(),
                "files_loaded": sum(f.status == "loaded" for f in load.files),
                "files_unchanged": sum(f.status == "unchanged" for f in load.files),
                "files_rejected": len(load.rejected),
                "new_columns": ", ".join(load.extra_columns) or "none",
                "quarantine_reasons": dg.MetadataValue.md(_reasons_table(load)),
                "files": dg.MetadataValue.md(_files_table(load, contract)),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=ROWS_RECONCILE,
                    passed=not mismatches,
                    description=f"{'; '.join(mismatches)}. {HELD_BACK.format(table=contract.table)}"
                    if mismatches
                    else None,
                    metadata={"mismatched_files": len(mismatches)},
                ),
                dg.AssetCheckResult(
                    check_name=FILES_LOADED,
                    passed=problem is None,
                    description=problem,
                    metadata={"files_rejected": len(load.rejected)},
                ),
            ],
        )

    return _ingest


ingest_assets = [build_ingest_asset(contract) for contract in CONTRACTS]
