"""The warehouse marts against the generator's truth: identity, point-in-time features."""

from __future__ import annotations

import shutil
from datetime import date

import duckdb
import pandas as pd
import pytest

from nextsale_lab.identity_quality import measure_identity
from tests.conftest import END_DATE
from tests.support.warehouse import dbt_build, query_df

CUTOFF = date(2026, 5, 1)


def test_identity_graph_recovers_people(first_run, pipeline_settings, generated):
    quality = measure_identity(pipeline_settings.duckdb_path, generated.out_dir / "_ground_truth")
    assert quality.precision >= 0.99
    assert quality.linkable_recall >= 0.99
    assert quality.shared_identifiers_kept == 0
    assert quality.largest_component <= 60


def test_shared_cookie_and_role_addresses_are_reported(first_run, pipeline_settings):
    reasons = query_df(
        pipeline_settings.duckdb_path,
        "select identifier_type, exclusion_reason from intermediate.int_identity__excluded_identifiers",
    )
    assert (reasons["exclusion_reason"] == "role address shared by colleagues").any()
    shared = reasons[reasons["exclusion_reason"].str.startswith("shared")]
    assert "anonymous_id" in set(shared["identifier_type"])


def test_customer_360_has_one_row_per_person_and_no_erased(first_run, pipeline_settings, generated):
    people = query_df(pipeline_settings.duckdb_path, "select * from marts.customer_360")
    truth = pd.read_parquet(generated.out_dir / "_ground_truth" / "persons")
    assert people["customer_key"].is_unique
    # one row per person, give or take people the data cannot link (see identity_quality)
    assert len(people) <= len(truth) * 1.2
    erased = query_df(
        pipeline_settings.duckdb_path, "select email from staging.stg_crm__erasure_requests"
    )
    assert not people["email"].isin(erased["email"]).any()


@pytest.fixture(scope="module")
def truncated_warehouse(tmp_path_factory, first_run, pipeline_settings):
    """A copy of the warehouse without any raw row from the cutoff on (erasures kept: they
    delete data, they are not data)."""
    path = tmp_path_factory.mktemp("truncated") / "warehouse.duckdb"
    shutil.copy(pipeline_settings.duckdb_path, path)
    cutoff = f"timestamptz '{CUTOFF.isoformat()} 00:00:00+00'"
    with duckdb.connect(str(path)) as con:
        con.execute(
            f"delete from raw.shop_order_lines where order_id in "
            f"(select order_id from raw.shop_orders where created_at >= {cutoff})"
        )
        for table, column in [
            ("shop_orders", "created_at"),
            ("web_events", "event_ts"),
            ("crm_contacts", "updated_at"),
            ("crm_deals", "created_at"),
        ]:
            con.execute(f"delete from raw.{table} where {column} >= {cutoff}")
    return path


def test_features_at_a_cutoff_ignore_everything_after_it(
    truncated_warehouse, pipeline_settings, first_run
):
    variables = {"ml_cutoffs": [CUTOFF.isoformat()], "as_of_date": END_DATE.isoformat()}
    select = "ml_training_snapshots ml_cross_sell_training_snapshots"
    full = pipeline_settings.duckdb_path.parent / "full_copy.duckdb"
    shutil.copy(pipeline_settings.duckdb_path, full)
    for path in (full, truncated_warehouse):
        dbt_build(path, "+" + select.replace(" ", " +"), variables)

    def features(path, table, key):
        frame = query_df(path, f"select * from ml.{table} where cutoff_date = '{CUTOFF}'")
        frame = frame.drop(
            columns=[c for c in frame if c.startswith("label_") or c == "person_key"]
        )
        return frame.sort_values(key).reset_index(drop=True)

    for table, key in [
        ("training_snapshots", ["component_id"]),
        ("cross_sell_training_snapshots", ["component_id", "category"]),
    ]:
        with_future = features(full, table, key)
        without_future = features(truncated_warehouse, table, key)
        assert len(with_future) > 100
        pd.testing.assert_frame_equal(with_future, without_future)
