"""Campaigns with holdouts, end to end: the generator's planted responses, the campaign_sends
contract through ingestion and dbt to campaign_outcomes, and the measured lift asset with its
blocking holdout check."""

from __future__ import annotations

import shutil

import dagster as dg
import duckdb
import pandas as pd
import pytest

from dagster_project.assets.campaigns import CAMPAIGN_LIFT, HOLDOUT_CHECK
from ml.lift import lift_table
from tests.conftest import settings_for


@pytest.fixture(scope="module")
def truth(generated) -> pd.DataFrame:
    path = generated.out_dir / "_ground_truth"
    return duckdb.sql(
        f"select t.*, p.discount_sensitivity from '{path}/campaign_sends/*.parquet' t "
        f"join '{path}/persons/*.parquet' p using (pid)"
    ).df()


@pytest.fixture(scope="module")
def outcomes(first_run, pipeline_settings) -> pd.DataFrame:
    assert first_run.success
    with duckdb.connect(str(pipeline_settings.duckdb_path), read_only=True) as con:
        return con.execute("select * from marts.campaign_outcomes").df()


def test_only_people_sent_an_offer_respond_and_discounts_work_on_the_sensitive(truth, generated):
    sends = duckdb.sql(
        f"select * from read_csv('{generated.out_dir}/campaigns/sends/*.csv', all_varchar=true)"
    ).df()
    assert len(sends) == len(truth) == generated.rows["campaign_sends"]
    holdout = sends["is_holdout"] == "true"
    assert sends.loc[holdout, "offer_type"].isna().all() and 0.05 < holdout.mean() < 0.15
    sent = truth.merge(sends[["send_id", "offer_type"]], on="send_id")
    assert not sent.loc[sent["offer_type"].isna(), "responded"].any()
    discount = sent[sent["offer_type"] == "discount"]
    assert discount["true_effect"].corr(discount["discount_sensitivity"]) > 0.5


def test_campaign_outcomes_credit_the_orders_campaigns_caused(outcomes, truth, pipeline_settings):
    with duckdb.connect(str(pipeline_settings.duckdb_path), read_only=True) as con:
        ((raw,),) = con.execute("select count(*) from raw.campaign_sends").fetchall()
    assert raw == len(truth)
    assert outcomes["send_id"].is_unique and len(outcomes) >= 0.98 * raw  # erased people drop
    credited = truth[truth["responded"]].merge(outcomes, on="send_id")
    # a caused order lands in its window unless it was refunded, cancelled or a dirty row
    assert len(credited) > 10 and credited["converted"].mean() > 0.85
    complete = outcomes[outcomes["is_window_complete"]]
    sent, held = complete[~complete["is_holdout"]], complete[complete["is_holdout"]]
    assert sent["converted"].mean() > held["converted"].mean()


def test_lift_table_has_every_campaign_audience_and_offer(outcomes):
    table = lift_table(outcomes[outcomes["is_window_complete"]], rounds=200)
    groups = outcomes.groupby(["campaign_id", "audience"]).ngroups
    per_group = table.groupby(["campaign_id", "audience"])["offer"].nunique()
    assert len(per_group) == groups and (per_group == 5).all()  # all offers + 4 offers
    incremental = table[table["measure"] == "incremental_revenue"]
    per_member = table[table["measure"] == "revenue_per_member"]
    assert incremental["lift"].to_numpy() == pytest.approx(
        per_member["lift"].to_numpy() * per_member["sent"].to_numpy()
    )


def test_small_holdouts_block_with_a_message_naming_them(
    activation_run, pipeline_settings, tmp_path
):
    """On 600 people every holdout is far too small: the check fails and says which."""
    from dagster_project.definitions import build_definitions

    settings = settings_for(tmp_path, pipeline_settings.landing_dir)
    shutil.copy(pipeline_settings.duckdb_path, settings.duckdb_path)
    defs = build_definitions(settings)
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        asset_selection=[CAMPAIGN_LIFT],
    )
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == HOLDOUT_CHECK]
    assert not check.passed
    assert "holdouts too small to measure a lift" in check.description
    assert "C01 win_back" in check.description
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        ((rows,),) = con.execute("select count(*) from scores.campaign_lift").fetchall()
    assert rows > 0  # written and shown, flagged rather than hidden
