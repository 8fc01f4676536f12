"""Shared fixtures: small generated landing data and a fresh DuckDB file per test session."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.assets.models import OFFER_REASONS
from ml.artifacts import model_status
from ml.data import read_calendar, read_snapshot
from ml.score import cross_sell_candidates, customer_scores, offer_choices, write_table
from ml.specs import SPECS
from ml.train import train_and_evaluate
from nextsale.config import Settings
from nextsale_lab.generate import GenerationSummary, generate

os.environ.setdefault("DO_NOT_TRACK", "1")
END_DATE = date(2026, 11, 1)


def pytest_configure(config: pytest.Config) -> None:
    """Parse the dbt project before any test imports the definitions: @dbt_assets reads the
    manifest at import, and a stale one does not know models added since."""
    from dagster_project.dbt import prepare_manifest

    prepare_manifest()


def settings_for(root: Path, landing: Path, dbt_target: str = "duckdb") -> Settings:
    return Settings(
        landing_dir=landing,
        duckdb_path=root / "warehouse.duckdb",
        artifacts_dir=root / "artifacts",
        dbt_target=dbt_target,
    )


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> GenerationSummary:
    """Landing files for 600 people; read-only for tests (copy before changing them)."""
    return generate(tmp_path_factory.mktemp("landing"), customers=600, seed=11, end_date=END_DATE)


@pytest.fixture(scope="session")
def pipeline_settings(
    tmp_path_factory: pytest.TempPathFactory, generated: GenerationSummary
) -> Settings:
    """Settings for a whole-graph run on the generated data."""
    return settings_for(tmp_path_factory.mktemp("warehouse"), generated.out_dir)


def is_model_or_activation(key: dg.AssetKey) -> bool:
    """Models, their scores, and the activation tables that read the scores."""
    return key.path[0] in (
        "models",
        "scores",
        "activation",
        "activation_candidates",
        "sync",
    ) or key.path[-1].startswith("int_activation")


def run_everything(settings: Settings, models: bool = False) -> dg.ExecuteInProcessResult:
    """Materialise the graph in-process, as `dg launch --assets '*'`: the
    warehouse, and with `models` the models, scores and activation too. They are left out by
    default: on 600 people most models cannot clear their minimum data, and their gate then
    (rightly) fails the run."""
    from dagster_project.definitions import build_definitions

    defs = build_definitions(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    if not models:
        keys = {k for k in keys if not is_model_or_activation(k)}
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, asset_selection=list(keys)
    )


@pytest.fixture(scope="session")
def first_run(pipeline_settings: Settings) -> dg.ExecuteInProcessResult:
    """The first whole-graph run on the generated data (later runs find nothing new)."""
    return run_everything(pipeline_settings)


def run_activation(settings: Settings) -> dg.ExecuteInProcessResult:
    """Scores from a propensity model trained here (on 600 people the other models fall under
    their minimum), then the activation assets through Dagster (the reasons for the audiences'
    members among them)."""
    from dagster_project.assets.dbt import dbt_model_key
    from dagster_project.definitions import build_definitions

    warehouse = settings.warehouse()
    people = read_snapshot(warehouse, "customer", "training")
    model = train_and_evaluate(SPECS["purchase_propensity"], people, read_calendar(warehouse)).model
    write_table(
        warehouse, "customer_scores", customer_scores(warehouse, {"purchase_propensity": model})
    )
    # what next_best_offers (dbt) ranks and joins: no cross-sell or offer model here
    write_table(warehouse, "cross_sell_candidates", cross_sell_candidates(warehouse, None))
    write_table(warehouse, "offer_choices", offer_choices(warehouse, None))
    # what the scores asset writes beside them (no version was published here)
    write_table(warehouse, "model_status", model_status(settings.artifacts_dir, list(SPECS)))
    defs = build_definitions(settings)
    keys = [
        k
        for k in defs.resolve_asset_graph().get_all_asset_keys()
        if is_model_or_activation(k)
        and k.path[0] not in ("models", "scores", "sync")
        or k in (OFFER_REASONS, dbt_model_key("next_best_offers"))  # dbt ranks the scores
    ]
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, asset_selection=keys
    )


@pytest.fixture(scope="session")
def activation_run(first_run, pipeline_settings) -> dg.ExecuteInProcessResult:
    assert first_run.success
    return run_activation(pipeline_settings)
