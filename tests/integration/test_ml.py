"""The models on the generated warehouse: no leakage, determinism, honest gating, explanations."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from ml import artifacts
from ml.baselines import RepeatBuying
from ml.data import read_calendar, read_snapshot, time_split
from ml.explain import top_reasons
from ml.score import customer_scores
from ml.specs import SPECS
from ml.train import Gate, train_and_evaluate
from nextsale_lab.importers import DEFAULT_SOURCE


@pytest.fixture(scope="module")
def warehouse(first_run, pipeline_settings) -> Path:
    assert first_run.success
    return pipeline_settings.duckdb_path


@pytest.fixture(scope="module")
def calendar(warehouse):
    return read_calendar(warehouse)


@pytest.fixture(scope="module")
def people(warehouse) -> pd.DataFrame:
    return read_snapshot(warehouse, "customer", "training")


@pytest.fixture(scope="module")
def model_run(warehouse, pipeline_settings) -> dg.ExecuteInProcessResult:
    """The model and score assets, materialised through Dagster on the test warehouse."""
    from dagster_project.definitions import build_definitions

    defs = build_definitions(pipeline_settings)
    keys = [
        k
        for k in defs.resolve_asset_graph().get_all_asset_keys()
        if k.path[0] in ("models", "scores")
    ]
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, asset_selection=keys
    )


def test_each_model_is_gated_and_only_passing_models_are_published(model_run, pipeline_settings):
    gates = {
        e.asset_key.path[-1]: e
        for e in model_run.get_asset_check_evaluations()
        if e.check_name == "beats_baselines"
    }
    assert gates  # on 600 people some models are held back for too little data, and say so
    for name, evaluation in gates.items():
        published = artifacts.published_version(pipeline_settings.artifacts_dir, name)
        assert (published is not None) == evaluation.passed, name
        if not evaluation.passed:  # the reason a person sees in the UI, and what it held back
            assert evaluation.description.startswith("Held back")
            assert "not published" in evaluation.description
    materialised = {
        e.asset_key.to_user_string() for e in model_run.get_asset_materialization_events()
    }
    # a held-back model never stops the scores: they come from the published versions only
    assert "scores/customer_scores" in materialised
    (scores,) = [
        e.event_specific_data.materialization
        for e in model_run.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "scores/customer_scores"
    ]
    versions = scores.metadata["model_versions"].value
    for name in gates:
        if name in versions:
            published = artifacts.published_version(pipeline_settings.artifacts_dir, name)
            assert versions[name] == published, name


def test_the_scores_headline_every_score_column_the_specs_declare(model_run, warehouse):
    (scores,) = [
        e.event_specific_data.materialization.metadata
        for e in model_run.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "scores/customer_scores"
    ]
    # money summed over everyone scored, propensities and days averaged; derived columns too
    assert {
        "mean_purchase_propensity",
        "mean_churn_risk",
        "mean_upsell_propensity",
        "mean_expected_days_to_next_order",
        "total_expected_ltv_usd",
        "total_potential_ltv_usd",
        "total_ltv_headroom_usd",
    } <= set(scores)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (total,) = con.execute(
            "select sum(expected_ltv_usd) from scores.customer_scores"
        ).fetchone()
    assert scores["total_expected_ltv_usd"].value == pytest.approx(total or 0.0, abs=0.01)


def test_a_second_run_on_the_same_rows_and_code_trains_no_model_again(model_run, pipeline_settings):
    from dagster_project.definitions import build_definitions

    def versions(result: dg.ExecuteInProcessResult) -> dict[str, tuple[str, bool]]:
        out = {}
        for event in result.get_asset_materialization_events():
            m = event.event_specific_data.materialization
            if m.asset_key.path[0] == "models" and "trained_this_run" in m.metadata:
                out[m.asset_key.path[-1]] = (
                    m.metadata["version"].value,
                    m.metadata["trained_this_run"].value,
                )
        return out

    first = versions(model_run)
    assert first and all(trained for _, trained in first.values())
    defs = build_definitions(pipeline_settings)
    again = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        asset_selection=[dg.AssetKey(["models", name]) for name in first],
    )
    assert again.success
    assert versions(again) == {name: (version, False) for name, (version, _) in first.items()}


def test_the_model_card_is_the_first_thing_on_the_models_page(model_run, pipeline_settings):
    from dagster_project.definitions import build_definitions

    graph = build_definitions(pipeline_settings).resolve_asset_graph()
    description = graph.get(dg.AssetKey(["models", "purchase_propensity"])).description
    assert description.startswith(SPECS["purchase_propensity"].description)
    assert "on the test cutoff" in description and "| metric |" in description


def test_split_is_purged_and_in_time_order(people, calendar):
    for name in ("purchase_propensity", "expected_ltv"):
        spec = SPECS[name]
        split = time_split(people, spec, calendar)
        horizon = timedelta(days=calendar.horizon_days(spec))
        # every training label window closed before the test cutoff
        assert max(split.train_cutoffs) + horizon <= split.test_cutoff
        assert set(split.test["cutoff_date"]) == {split.test_cutoff}
        assert split.validation["cutoff_date"].max() <= max(split.train_cutoffs)
        assert split.test_cutoff + horizon <= calendar.as_of


def test_features_are_strictly_before_and_labels_strictly_after_the_cutoff(warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        late_features, early_labels = con.execute(
            """
            select
                count(*) filter (where s.last_order_at >= s.cutoff_date),
                count(*) filter (where s.label_days_to_next_order < 0)
            from ml.training_snapshots as s
            """
        ).fetchall()[0]
    assert late_features == 0 and early_labels == 0


def test_training_is_deterministic_for_a_seed(people, calendar):
    spec = SPECS["purchase_propensity"]
    first = train_and_evaluate(spec, people, calendar, seed=3)
    second = train_and_evaluate(spec, people, calendar, seed=3)
    assert first.metrics == second.metrics
    assert first.data_hash == second.data_hash
    test = people[people["cutoff_date"] == first.test_cutoff].head(200)
    np.testing.assert_array_equal(first.model.predict(test), second.model.predict(test))


def test_contributions_sum_to_the_margin(people, calendar):
    run = train_and_evaluate(SPECS["purchase_propensity"], people, calendar)
    rows = people[people["cutoff_date"] == run.test_cutoff].head(300)
    np.testing.assert_allclose(
        run.model.contributions(rows).sum(axis=1), run.model.margin(rows), rtol=1e-4, atol=1e-4
    )
    reasons = top_reasons(run.model, rows)
    assert len(reasons) == len(rows) and any(reasons)


def test_the_gate_blocks_a_model_trained_on_shuffled_labels(people, calendar):
    spec = SPECS["purchase_propensity"]
    shuffled = people.copy()
    shuffled[spec.label] = np.random.default_rng(0).permutation(shuffled[spec.label].to_numpy())
    honest = train_and_evaluate(spec, people, calendar)
    run = train_and_evaluate(spec, shuffled, calendar)
    assert honest.model is not None and run.model is not None
    assert not run.gate.passed
    # its baseline learns from the same shuffled labels, so the floor is what stops it
    assert any("below the floor" in r for r in run.gate.reasons)
    assert run.metrics["roc_auc"] < honest.metrics["roc_auc"]


def test_a_blocked_model_is_not_published_and_scoring_keeps_the_last_good_one(
    people, calendar, tmp_path
):
    spec = SPECS["purchase_propensity"]
    good_run = train_and_evaluate(spec, people, calendar)
    good_run.gate = Gate(True, ["passed (set here: this test is about publication)"])
    good = artifacts.save(good_run, tmp_path)
    shuffled = people.assign(
        **{spec.label: np.random.default_rng(1).permutation(people[spec.label].to_numpy())}
    )
    bad = artifacts.save(train_and_evaluate(spec, shuffled, calendar), tmp_path)
    assert good.published and not bad.published and (bad.path / "model.json").exists()
    assert artifacts.published_version(tmp_path, spec.name) == good.version
    loaded = artifacts.load(tmp_path, spec.name)
    rows = people.head(50)
    np.testing.assert_allclose(loaded.predict(rows), good_run.model.predict(rows), rtol=1e-6)


def test_too_little_data_is_said_not_hidden(people, calendar):
    few = people[people["component_id"].isin(people["component_id"].unique()[:40])]
    run = train_and_evaluate(SPECS["upsell"], few, calendar)
    assert run.model is None and not run.gate.passed
    assert all("too little data" in r for r in run.gate.reasons)


def test_scoring_gives_one_row_per_customer(warehouse, people, calendar):
    model = train_and_evaluate(SPECS["purchase_propensity"], people, calendar).model
    scores = customer_scores(warehouse, {"purchase_propensity": model, "upsell": None})
    snapshot = read_snapshot(warehouse, "customer", "scoring")
    assert len(scores) == len(snapshot) == scores["customer_key"].nunique()
    assert scores["purchase_propensity"].between(0, 1).all()
    assert scores["upsell_propensity"].isna().all()  # no published model: no score, not a guess
    assert (scores["churn_risk"].notna() == (snapshot["orders_count"] > 0).to_numpy()).all()
    declared = {c for spec in SPECS.values() for c in _score_columns(spec)}
    fixed = {"customer_key", "as_of_date", "rfm_segment", "lifecycle_stage", "value_tier"}
    assert set(scores.columns) == declared | fixed | {"model_versions", "scored_at"}


def _score_columns(spec) -> list[str]:
    """The columns of scores.customer_scores a spec declares."""
    if spec.score_column is None:
        return []
    rank = [f"{spec.score_column}_rank"] if spec.ranked else []
    return [spec.score_column, *rank, *spec.derived_scores]


def test_scores_carry_the_columns_the_specs_declare_each_once():
    """A new model is its spec: the baselines, the derived scores and the churn baseline it
    names exist, and no two specs claim one column of scores.customer_scores."""
    from ml.baselines import BASELINES
    from ml.score import DERIVED_SCORES

    columns = []
    for spec in SPECS.values():
        assert set(spec.baselines) <= set(BASELINES), spec.name
        assert set(spec.derived_scores) <= set(DERIVED_SCORES), spec.name
        assert spec.churn_baseline in (None, *spec.baselines), spec.name
        assert spec.score_column or not (spec.ranked or spec.derived_scores), spec.name
        columns += _score_columns(spec)
    assert len(columns) == len(set(columns))
    assert {"purchase_propensity_rank", "churn_risk", "ltv_headroom_usd"} <= set(columns)


def test_next_best_offers_give_one_row_per_past_buyer(model_run, warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        keys, rows, buyers = con.execute(
            "select count(distinct customer_key), count(*), "
            "(select count(*) from ml.scoring_snapshot where orders_count > 0) "
            "from scores.next_best_offers"
        ).fetchall()[0]
    assert keys == rows == buyers > 0


def test_headroom_is_scored_for_past_buyers_as_potential_minus_spend_today(
    warehouse, people, calendar
):
    from ml.baselines import last_period_spend

    model = train_and_evaluate(SPECS["potential_ltv"], people, calendar).model
    scores = customer_scores(warehouse, {"potential_ltv": model})
    snapshot = read_snapshot(warehouse, "customer", "scoring").set_index("customer_key")
    buyers = (snapshot["orders_count"] > 0).reindex(scores["customer_key"]).to_numpy()
    assert scores.loc[buyers, "potential_ltv_usd"].notna().all()
    assert scores.loc[~buyers, ["potential_ltv_usd", "ltv_headroom_usd"]].isna().all().all()
    today = last_period_spend(
        snapshot.loc[scores.loc[buyers, "customer_key"]], calendar.ltv_horizon_days
    )
    expected = np.maximum(scores.loc[buyers, "potential_ltv_usd"].to_numpy() - today, 0)
    np.testing.assert_allclose(scores.loc[buyers, "ltv_headroom_usd"], expected, rtol=1e-9)
    # the value if converted goes to prospects alone, one figure for them all
    assert scores.loc[buyers, "value_if_converted_usd"].isna().all()


def test_upsell_offers_are_a_higher_tier_of_a_family_the_customer_owns(model_run, warehouse):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        wrong = con.execute(
            """
            select count(*)
            from scores.next_best_offers as offers
            inner join staging.stg_shop__products as offered on offered.product_id = offers.upsell_product_id
            inner join staging.stg_shop__products as owned on owned.product_id = offers.upsell_from_product_id
            where offered.family <> owned.family or offered.tier <= owned.tier
            """
        ).fetchall()[0][0]
    assert wrong == 0


def _cdnow_histories() -> pd.DataFrame:
    """The CDNOW sample's 39-week calibration period as the snapshot columns the pipeline
    computes (days since first and last purchase at the cutoff), purchase days as transactions."""
    raw = pd.read_csv(DEFAULT_SOURCE / "cdnow" / "cdnow_sample.csv.gz")
    raw["day"] = pd.to_datetime(raw["date"].astype(str))
    cutoff = pd.Timestamp("1997-10-01")
    days = raw[raw["day"] < cutoff].groupby("customer_id")["day"]
    return pd.DataFrame(
        {
            "purchase_days": days.nunique(),
            "first_order_days_ago": (cutoff - days.min()).dt.days,
            "recency_days": (cutoff - days.max()).dt.days,
            "revenue_usd": raw[raw["day"] < cutoff].groupby("customer_id")["dollar_value"].sum(),
        }
    )


@pytest.mark.skipif(not DEFAULT_SOURCE.is_dir(), reason="no shared data sets")
@pytest.mark.parametrize(
    ("process", "published"),
    [
        # Fader, Hardie & Lee (2005), "Counting your customers the easy way"
        ("bgnbd", {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}),
        # Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves"
        ("pareto_nbd", {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}),
    ],
)
def test_repeat_buying_reproduces_the_published_cdnow_fit(process, published):
    fitted = RepeatBuying(process).fit(_cdnow_histories()).parameters
    for name, value in published.items():
        assert fitted[name] == pytest.approx(value, abs=0.02), name


@pytest.mark.skipif(not DEFAULT_SOURCE.is_dir(), reason="no shared data sets")
def test_pareto_nbd_predicts_what_pymc_marketing_predicts_with_the_same_parameters():
    """Our scipy Pareto/NBD against pymc-marketing's ParetoNBDModel given the same posterior
    point: P(alive), expected purchases and P(no purchase) over 39 weeks, per person."""
    import arviz as az
    from pymc_marketing.clv import ParetoNBDModel

    from ml.baselines import ParetoNbd, btyd_summary

    summary = btyd_summary(_cdnow_histories())
    ours = ParetoNbd().fit(summary)
    theirs = ParetoNBDModel(data=summary[["customer_id", "frequency", "recency", "T"]])
    theirs.build_model()
    theirs.idata = az.from_dict(posterior={k: np.array([[v]]) for k, v in ours.parameters.items()})
    pairs = {
        "alive": (
            ours.expected_probability_alive(summary),
            theirs.expected_probability_alive(data=summary),
        ),
        "purchases": (
            ours.expected_purchases(summary, 39.0),
            theirs.expected_purchases(data=summary, future_t=39.0),
        ),
        "no purchase": (
            ours.expected_probability_no_purchase(39.0, summary),
            theirs.expected_purchase_probability(data=summary, n_purchases=0, future_t=39.0),
        ),
    }
    for name, (mine, reference) in pairs.items():
        np.testing.assert_allclose(mine, np.asarray(reference).ravel(), rtol=1e-8, err_msg=name)


@pytest.mark.skipif(not DEFAULT_SOURCE.is_dir(), reason="no shared data sets")
def test_evaluate_on_the_cdnow_sample_reports_each_model_beside_its_baselines(tmp_path):
    """The real-data path end to end on the small CDNOW sample: import, ingest, dbt, train."""
    from nextsale_lab.evaluate import evaluate

    records = evaluate(
        ["cdnow"], tmp_path, tmp_path / "evaluation.json", sample=True, write_docs=False
    )
    assert json.loads((tmp_path / "evaluation.json").read_text()) == records
    keys = {
        "dataset",
        "model",
        "metric",
        "value",
        "baseline",
        "baseline_value",
        "cutoff",
        "horizon_days",
        "n_train",
        "n_test",
    }
    assert records and all(keys <= set(r) for r in records)
    ltv = [r for r in records if r["model"] == "expected_ltv"]
    # the classic split: 39 weeks of calibration, 39 weeks of holdout
    assert {(r["cutoff"], r["horizon_days"]) for r in ltv} == {("1997-10-01", 273)}
    assert {r["baseline"] for r in ltv} == {
        "last_period_spend",
        "bgnbd_gamma_gamma",
        "pareto_nbd_gamma_gamma",
    }
    # rolling origin: every record carries its test cutoffs and values, the main metric's
    # records the paired interval of the mean difference
    gini = [r for r in ltv if r["metric"] == "normalized_gini"]
    assert all(r["difference_low"] <= r["difference"] <= r["difference_high"] for r in gini)
    propensity = [r for r in records if r["model"] == "purchase_propensity"]
    assert {r["baseline"] for r in propensity} == {"rfm", "bgnbd", "pareto_nbd"}
    assert all(len(r["cutoffs"]) == len(r["values_per_cutoff"]) >= 2 for r in propensity)
    assert {r["dataset"] for r in records} == {"cdnow"}


def test_large_training_snapshots_are_read_for_a_stable_sample_of_people(warehouse, monkeypatch):
    import ml.data

    full = read_snapshot(warehouse, "cross_sell", "training")
    monkeypatch.setattr(ml.data, "MAX_TRAINING_SNAPSHOT_ROWS", len(full) // 4)
    sample = read_snapshot(warehouse, "cross_sell", "training")
    assert sample.equals(read_snapshot(warehouse, "cross_sell", "training"))  # the same each run
    assert 0.1 < len(sample) / len(full) < 0.45
    # whole people: every row of a sampled component is read, with the person's features
    assert len(full[full["component_id"].isin(set(sample["component_id"]))]) == len(sample)
    assert sample["orders_count"].notna().all()


def _buyers(rng: np.random.Generator, people: int, cutoff: date) -> pd.DataFrame:
    spend = rng.gamma(1.0, 300.0, people)
    return pd.DataFrame(
        {
            "cutoff_date": cutoff,
            "component_id": [f"p{i}" for i in range(people)],
            "orders_count": rng.integers(1, 10, people),
            "recency_days": rng.integers(1, 300, people),
            "revenue_usd": spend * 2,
            "revenue_last_365d_usd": spend,
        }
    )


def test_headroom_is_published_only_where_it_ranks_realised_growth():
    """Planted: next year's revenue is last year's plus a growth that a model's headroom sees
    and the gap to the segment's median does not. Reversed, the same headroom must fail."""
    from ml.data import Split
    from ml.train import validate_headroom

    rng = np.random.default_rng(0)
    train, test = _buyers(rng, 3_000, date(2025, 1, 1)), _buyers(rng, 3_000, date(2026, 1, 1))
    growth = rng.gamma(1.0, 200.0, len(test))
    test["label_ltv_revenue_usd"] = test["revenue_last_365d_usd"] + growth
    expected = test["revenue_last_365d_usd"].to_numpy()
    split = Split(train, train.head(0), test, date(2026, 1, 1), (date(2025, 1, 1),))
    seen = validate_headroom(split, expected + growth + rng.normal(0, 50, len(test)), 365)
    assert seen["credibly_better"] and seen["low"] > 0
    assert seen["top_decile_growth_usd"] > seen["bottom_decile_growth_usd"]
    reversed_ = validate_headroom(split, expected - growth + 1_000, 365)
    assert not reversed_["credibly_better"]


def test_the_personal_interest_baseline_tells_viewers_from_the_rest():
    from ml.baselines import personal_interest_cells

    frame = pd.DataFrame(
        {
            "category": ["shoes"] * 3,
            "primary_category": ["bags"] * 3,
            "category_views_last_90d": [0, 3, 3],
            "category_view_recency_days": [None, 2, 60],
        }
    )
    cells = personal_interest_cells(frame, {})
    assert cells.nunique() == 3  # never viewed, viewed lately, viewed a while ago
    assert cells.str.startswith("shoes | bags").all()  # within the similar-customers cell


def test_potential_is_the_level_the_upper_tenth_of_similar_customers_reached():
    from ml.train import peer_levels

    rng = np.random.default_rng(1)
    expected = rng.uniform(10, 1_000, 20_000)
    revenue = expected * rng.gamma(2.0, 0.5, len(expected))  # mean = expected, spread around it
    edges, levels = peer_levels(expected, revenue, 0.9)
    assert len(levels) == len(edges) + 1 == 20
    assert np.all(np.diff(levels) >= 0)  # a band of higher expectation never reaches lower
    band = np.searchsorted(edges, expected, side="right")
    reached = (revenue <= np.asarray(levels)[band]).mean()
    assert 0.88 < reached < 0.92
    # too few people for 20 bands of 50: fewer, wider bands
    edges, levels = peer_levels(expected[:120], revenue[:120], 0.9)
    assert len(levels) == 2


def test_a_potential_ltv_version_saved_before_peer_bands_still_predicts_its_quantile():
    """Published versions of the old kind ("quantile": the booster's margin is the revenue
    quantile) keep scoring as they did until a new version passes its gate."""
    import xgboost as xgb

    from ml.train import TrainedModel

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"spend": rng.gamma(2.0, 100.0, 500)})
    revenue = frame["spend"].to_numpy() * rng.uniform(0.5, 1.5, 500)
    booster = xgb.train(
        {"objective": "reg:quantileerror", "quantile_alpha": 0.9, "max_depth": 2},
        xgb.DMatrix(frame, label=revenue),
        num_boost_round=20,
    )
    old = TrainedModel("potential_ltv", "quantile", booster, ["spend"], {}, prediction_scale=2.0)
    margin = booster.predict(xgb.DMatrix(frame), output_margin=True)
    np.testing.assert_allclose(old.predict(frame), margin * 2.0, rtol=1e-6)
