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
    assert count(settings, "ml.training_snapshots") > 100
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
            groups = dict(
                con.execute(
                    "select treatment, count(*) from ml.campaign_snapshots group by 1"
                ).fetchall()
            )
        # no holdout: each campaign is compared with the households it was not sent to
        assert set(groups) == {"sent", "not_sent"} and groups["not_sent"] > groups["sent"]


def test_online_retail_products_and_customers_are_as_first_seen_never_as_later_rows_say(
    tmp_path,
):
    """What a later line says of a product (its description, so its category, and its price)
    or of a customer (their country) must not reach an earlier cutoff: importing the file up to
    2011-09-01 and the whole file gives the same answer for everything seen before."""
    source = tmp_path / "until-2011-09"
    (source / "online_retail").mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute(
            f"""copy (select * from read_csv('{DEFAULT_SOURCE}/online_retail/online_retail.csv.gz',
                                             all_varchar = true)
                      where InvoiceDate < '2011-09-01')
            to '{source}/online_retail/online_retail.csv.gz' (header, compression gzip)"""
        )
    for name, folder in (("early", source), ("whole", DEFAULT_SOURCE)):
        result = CliRunner().invoke(
            main,
            [
                "import",
                "online-retail",
                "--source",
                str(folder),
                "--out",
                str(tmp_path / name),
                "--sample",
            ],
        )
        assert result.exit_code == 0, result.output
    with duckdb.connect() as con:

        def read(name: str, folder: str, columns: str) -> set[tuple]:
            return set(
                con.execute(
                    f"select {columns} from read_csv('{tmp_path}/{name}/{folder}/online_retail.csv', "
                    "all_varchar = true)"
                ).fetchall()
            )

        products = "product_id, name, category, price"
        early = read("early", "shop/products", products)
        assert len(early) > 1_000
        assert early <= read("whole", "shop/products", products)
        contacts = "shop_customer_id, country, created_at"
        early = read("early", "crm/contacts", contacts)
        assert early <= read("whole", "crm/contacts", contacts)
