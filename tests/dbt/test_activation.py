"""Activation tables and audiences: built by dbt from the scores, with consent and holdouts."""

from __future__ import annotations

from tests.support.warehouse import hash_bucket, rows


def test_activation_builds_and_every_consent_rule_holds(activation_run):
    assert activation_run.success
    checks = {e.check_name: e.passed for e in activation_run.get_asset_check_evaluations()}
    for rule in (
        "assert_email_audiences_send_only_with_email_opt_in",
        "assert_sms_audiences_send_only_with_sms_opt_in",
        "assert_nobody_suppressed_is_sent_or_synced",
        "assert_weekly_cap_and_holdouts_hold",
    ):
        assert checks.get(rule) is True, rule


def test_holdouts_are_a_stable_tenth_of_each_audience(activation_run, pipeline_settings):
    # every member is on the side the stable hash of (person, audience) puts them
    members = rows(
        pipeline_settings.duckdb_path,
        "select customer_key, audience, is_holdout from activation.audience_members",
    )
    assert members
    misplaced = [m for m in members if m[2] != (hash_bucket(f"{m[0]}|{m[1]}", 10000) < 1000)]
    assert misplaced == []
    # and that hash puts a tenth of any large audience in the holdout
    share = sum(hash_bucket(f"person-{i}|upsell_ready", 10000) < 1000 for i in range(20000))
    assert 0.09 < share / 20000 < 0.11


def test_suppressed_people_are_never_sendable(activation_run, pipeline_settings):
    reasons = dict(
        rows(
            pipeline_settings.duckdb_path,
            "select suppression_reason, count(*) filter (where is_sendable) "
            "from activation.audience_members where suppression_reason is not null group by 1",
        )
    )
    assert reasons and all(sent == 0 for sent in reasons.values())


def test_destination_tables_have_one_row_per_email_with_vendor_field_names(
    activation_run, pipeline_settings
):
    database = pipeline_settings.duckdb_path
    for table, key, fields in (
        ("hubspot__contacts", "email", {"firstname", "nextsale_purchase_propensity"}),
        ("klaviyo__profiles", "email", {"external_id", "nextsale_score_reasons"}),
        (
            "salesforce__contacts",
            "Nextsale_Customer_Key__c",
            {"LastName", "Purchase_Propensity__c"},
        ),
    ):
        columns = {r[0] for r in rows(database, f"describe activation.{table}")}
        assert fields <= columns, table
        total, distinct = rows(
            database, f"select count(*), count(distinct {key}) from activation.{table}"
        )[0]
        assert total == distinct > 0, table


def test_reasons_are_exact_and_given_to_every_person_an_audience_sends_to_and_nobody_else(
    activation_run, pipeline_settings
):
    """On 600 people the upsell model cannot train: the propensity model stands in as the
    explainer, which is all offer_reasons asks of a model."""
    from ml.data import read_calendar, read_snapshot
    from ml.explain import top_reasons
    from ml.score import offer_reasons
    from ml.specs import SPECS
    from ml.train import train_and_evaluate

    warehouse = pipeline_settings.warehouse()
    model = train_and_evaluate(
        SPECS["purchase_propensity"],
        read_snapshot(warehouse, "customer", "training"),
        read_calendar(warehouse),
    ).model
    reasons = offer_reasons(warehouse, {"upsell": model}).set_index("customer_key")
    database = pipeline_settings.duckdb_path
    sent_upgrades = {
        key
        for (key,) in rows(
            database,
            "select offers.customer_key from scores.next_best_offers offers "
            "where offers.upsell_product_id is not null and offers.customer_key in "
            "(select customer_key from activation.audience_members where is_sendable)",
        )
    }
    snapshot = read_snapshot(warehouse, "customer", "scoring")
    snapshot = snapshot[snapshot["customer_key"].isin(sent_upgrades)]
    snapshot = snapshot[SPECS["upsell"].eligible(snapshot)]  # whom an upsell score applies to
    explained = set(reasons.index[reasons["upsell_reasons"].notna()])
    assert len(snapshot) and explained == set(snapshot["customer_key"])
    assert reasons["cross_sell_reasons"].isna().all()  # no cross-sell model: nothing to explain
    exact = dict(zip(snapshot["customer_key"], top_reasons(model, snapshot), strict=True))
    assert {k: reasons.loc[k, "upsell_reasons"] for k in exact} == exact
