"""The generator: deterministic, contract-shaped, dirty at the documented rates, and true to
its latent traits (so that later models have something real to find)."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from nextsale.contracts import CONTRACTS
from nextsale_lab.generate import DIRTY_RATES, SHARED_COOKIE, generate
from tests.conftest import END_DATE


def digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    a = generate(tmp_path / "a", customers=300, seed=5, end_date=END_DATE)
    b = generate(tmp_path / "b", customers=300, seed=5, end_date=END_DATE)
    c = generate(tmp_path / "c", customers=300, seed=6, end_date=END_DATE)
    assert digests(a.out_dir) == digests(b.out_dir)
    assert (
        digests(a.out_dir)["shop/orders/part-00000.csv"]
        != digests(c.out_dir)["shop/orders/part-00000.csv"]
    )


def test_every_contract_gets_files_with_its_columns_in_order(generated):
    for contract in CONTRACTS:
        files = contract.files(generated.out_dir)
        assert files, contract.folder
        for path in files:
            if path.suffix == ".csv":
                with path.open() as f:
                    header = next(csv.reader(f))
            else:
                header = list(json.loads(path.open().readline()))
            # every required column, and optional ones only as the contract orders them
            required = [c.name for c in contract.columns if c.required]
            assert [c for c in header if c in required] == required, path
            assert header == [c for c in contract.column_names if c in header], path


def test_each_contract_is_fed_by_one_source_file():
    """A source is a contract plus its files in a module of nextsale_lab.generate."""
    from nextsale_lab.generate import SOURCE_FILES

    by_table = {f.table: f for f in SOURCE_FILES}
    assert len(by_table) == len(SOURCE_FILES)
    assert set(by_table) == {c.table for c in CONTRACTS}


@pytest.fixture(scope="module")
def truth(generated):
    root = generated.out_dir / "_ground_truth"
    read = lambda name: pd.read_parquet(root / name)  # noqa: E731
    return {name: read(name) for name in ("persons", "identifiers", "dirty_rows")}


def test_dirty_rows_are_planted_at_the_documented_rates(tmp_path):
    summary = generate(tmp_path, customers=4000, seed=2, end_date=END_DATE)
    for table, rates in DIRTY_RATES.items():
        planted = summary.dirty_rows[table]
        clean = summary.rows[table] - planted["exact_duplicate"] - planted.get("test_order", 0)
        clean -= planted.get("junk_contact", 0)
        for kind, rate in rates.items():
            expected = rate * clean
            # binomial: within five standard deviations of the documented rate
            assert abs(planted[kind] - expected) <= 5 * np.sqrt(expected) + 1, (table, kind)
        assert planted["exact_duplicate"] > 0


def test_test_orders_junk_contacts_and_a_shared_cookie_are_planted(generated, truth):
    kinds = set(truth["dirty_rows"]["kind"])
    assert {"test_order", "bad_timestamp", "missing_id", "exact_duplicate"} <= kinds
    with duckdb.connect() as con:
        users_on_shared_cookie = con.execute(
            f"""select count(distinct user_id) from read_json('{generated.out_dir}/web/events/*.jsonl')
            where anonymous_id = '{SHARED_COOKIE}'"""
        ).fetchall()[0][0]
        test_orders = con.execute(
            f"select count(*) from read_csv('{generated.out_dir}/shop/orders/*.csv') where is_test"
        ).fetchall()[0][0]
    assert users_on_shared_cookie >= 2
    assert test_orders == generated.dirty_rows["shop_orders"]["test_order"] > 0


def test_identity_is_messy_but_known(generated, truth):
    ids = truth["identifiers"]
    people = truth["persons"]
    per_person = (
        ids.dropna(subset=["pid"]).groupby("pid")["kind"].value_counts().unstack(fill_value=0)
    )
    assert (per_person["email"] >= 2).any(), "some people have several emails"
    assert (per_person["anonymous_id"] >= 2).any(), "some people have several devices"
    assert (~people["is_buyer"] & people["in_crm"]).sum() > 0, "CRM contacts who never buy"
    assert ids.loc[ids["shared"], "value"].str.startswith("info@").any(), "shared role addresses"
    with duckdb.connect() as con:
        guests_who_later_log_in = con.execute(
            f"""with o as (select lower(trim(email)) as email, customer_id, created_at
                         from read_csv('{generated.out_dir}/shop/orders/*.csv', all_varchar=true)
                         where is_test = 'false')
            select count(distinct g.email) from o g join o a on a.email = g.email
            where g.customer_id is null and a.customer_id is not null"""
        ).fetchall()[0][0]
    assert guests_who_later_log_in > 0


def test_behaviour_follows_the_latent_traits(truth):
    people = truth["persons"]
    end_day = (END_DATE - date(1970, 1, 1)).days
    buyers = people[people["is_buyer"] & (people["n_orders"] > 0)]
    # Among people still active after a year, the order rate follows the purchase-rate trait.
    active = buyers[buyers["lapsed_day"].isna() & (end_day - buyers["acquired_day"] > 365)]
    orders_per_year = active["n_orders"] / ((end_day - active["acquired_day"]) / 365)
    assert active["purchase_rate"].corr(orders_per_year, method="spearman") > 0.6
    # Leads never buy; people who lapsed bought less than those still active.
    assert people.loc[~people["is_buyer"], "n_orders"].eq(0).all()
    lapsed = buyers["lapsed_day"].notna()
    assert buyers.loc[lapsed, "n_orders"].mean() < buyers.loc[~lapsed, "n_orders"].mean()


def test_ground_truth_names_every_kind_of_identifier(truth):
    ids = truth["identifiers"]
    assert set(ids["kind"]) == {"email", "contact_id", "customer_id", "anonymous_id"}
    owned = ids.dropna(subset=["pid"])
    assert not owned.duplicated(["kind", "value"]).any(), "an identifier belongs to one person"


def test_unchanged_sample_data_is_recognised_and_not_written_again(tmp_path):
    from nextsale_lab.generate import already_generated

    out = tmp_path / "landing"
    assert already_generated(out, 300, 5, END_DATE) is None
    written = generate(out, customers=300, seed=5, end_date=END_DATE)
    again = already_generated(out, 300, 5, END_DATE)
    assert again is not None and again.rows == written.rows
    assert already_generated(out, 300, 6, END_DATE) is None
    assert already_generated(out, 301, 5, END_DATE) is None
    with (out / "shop" / "orders" / "part-00000.csv").open("a") as f:
        f.write("an edit\n")  # a landing file that is no longer what was generated
    assert already_generated(out, 300, 5, END_DATE) is None
