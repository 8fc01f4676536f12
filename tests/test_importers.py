"""Real data sets: a slice of each, imported and run through the same ingestion and dbt build."""

from __future__ import annotations

import duckdb
import pytest
from click.testing import CliRunner

from nextsale.cli import main
from nextsale_lab.importers import DEFAULT_SOURCE
from tests.conftest import run_everything, settings_for

pytestmark = pytest.mark.skipif(
    not DEFAULT_SOURCE.is_dir(), reason=f"real data sets not found at {DEFAULT_SOURCE}"
)


def quarantine(settings, table: str) -> dict[str, int]:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        return dict(
            con.execute(
                f"""select regexp_extract(_reason, '^([^:;]+)', 1), count(*)
                from raw_quarantine.{table} group by 1"""
            ).fetchall()
        )


def count(settings, table: str) -> int:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        return con.execute(f"select count(*) from {table}").fetchall()[0][0]


@pytest.mark.parametrize("dataset", ["online-retail", "cdnow", "completejourney"])
def test_a_slice_imports_and_builds(tmp_path, dataset):
    landing = tmp_path / "landing"
    result = CliRunner().invoke(main, ["import", dataset, "--out", str(landing), "--sample"])
    assert result.exit_code == 0, result.output
    settings = settings_for(tmp_path, landing)
    run = run_everything(settings)
    assert run.success
    assert count(settings, "marts.customer_360") > 100
    assert count(settings, "ml.ml_training_snapshots") > 100
    if dataset == "online-retail":
        reasons = quarantine(settings, "shop_order_lines")
        # duplicated lines and stock write-offs (negative quantities) reach the quarantine
        assert reasons["exact duplicate"] > 0 and reasons["bad quantity"] > 0
        # guests (no CustomerID) are orders of nobody: customers are the CustomerIDs
        assert count(settings, "marts.customer_360") == count(settings, "staging.stg_crm__contacts")
    if dataset == "completejourney":
        assert quarantine(settings, "shop_order_lines")["bad quantity"] > 0  # zero quantities
        # the 27 campaigns' exposure, through the campaign contract: nothing lost
        assert count(settings, "raw.campaign_sends") == 6_589
        assert count(settings, "raw_quarantine.campaign_sends") == 0
        with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
            groups = dict(con.execute(
                "select treatment, count(*) from ml.ml_campaign_snapshots group by 1").fetchall())  # fmt: skip
        # no holdout: each campaign is compared with the households it was not sent to
        assert set(groups) == {"sent", "not_sent"} and groups["not_sent"] > groups["sent"]
