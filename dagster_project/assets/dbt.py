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
        # Sources are Python assets: raw/<table> (ingestion) and scores/<table> (the models).
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["identifier"]])
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


# Activation models read the scores, which the models write after the warehouse is built: two
# dbt assets, so that the graph runs dbt -> models -> scores -> dbt without a cycle.
ACTIVATION = "tag:activation"


def build_dbt_assets(name: str, **selection: str) -> dg.AssetsDefinition:
    @dbt_assets(
        name=name,
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        dagster_dbt_translator=NextsaleDbtTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
        ),
        **selection,
    )
    def _dbt(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig
    ) -> Iterator[Any]:
        yield from dbt.cli(dbt_build_args(config), context=context).stream()

    return _dbt


nextsale_dbt_models = build_dbt_assets("nextsale_dbt_models", exclude=ACTIVATION)
nextsale_dbt_activation = build_dbt_assets("nextsale_dbt_activation", select=ACTIVATION)
