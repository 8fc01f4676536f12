"""dbt models, seeds and tests as Dagster assets and asset checks."""

import json
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from dagster_project.dbt import dbt_project

# dbt folder (under models/) -> Dagster asset group, so the UI shows one group per layer.
LAYER_GROUPS = {
    "staging": "staging",
    "intermediate": "intermediate",
    "marketing": "marts",
    "ml": "ml",
    "activation": "activation",
}


class NextsaleDbtTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        # Sources are the ingestion assets: raw/<table>, the table name ingestion writes.
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey(["raw", dbt_resource_props["identifier"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        folders = dbt_resource_props["fqn"][1:-1]
        for folder in reversed(folders):
            if folder in LAYER_GROUPS:
                return LAYER_GROUPS[folder]
        return "staging"  # seeds: reference data read by staging


class DbtBuildConfig(dg.Config):
    as_of_date: str = ""
    """Compute marts as of this date (YYYY-MM-DD); empty means today."""


def dbt_build_args(config: DbtBuildConfig) -> list[str]:
    """`dbt build` for scheduled runs: unit tests run in `make test`, not against live data."""
    args = ["build", "--exclude-resource-type", "unit_test"]
    if config.as_of_date:
        args += ["--vars", json.dumps({"as_of_date": config.as_of_date})]
    return args


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=NextsaleDbtTranslator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
    ),
)
def nextsale_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig
) -> Iterator[Any]:
    yield from dbt.cli(dbt_build_args(config), context=context).stream()
