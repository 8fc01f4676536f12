"""The models (ml/) as assets: one per model, each gated by a blocking quality check, then the
scores and next best offers made with the published versions."""

import dagster as dg
import pandas as pd

from dagster_project.resources import Warehouse
from ml import artifacts
from ml.data import read_calendar, read_snapshot
from ml.score import customer_scores, next_best_offers, write_table
from ml.specs import SPECS, ModelSpec
from ml.train import ModelRun, train_and_evaluate

SNAPSHOTS = {
    "customer": dg.AssetKey(["ml", "ml_training_snapshots"]),
    "cross_sell": dg.AssetKey(["ml", "ml_cross_sell_training_snapshots"]),
}
GATE_CHECK = "beats_baselines"


def model_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["models", name])


def _bars(values: pd.Series, width: int = 30) -> list[str]:
    top = max(float(values.max()), 1e-12)
    return ["█" * max(int(round(width * float(v) / top)), 0) for v in values]


def chart(run: ModelRun) -> str:
    """The lift chart (classifiers) or decile chart (revenue), as Markdown the UI renders."""
    if "lift" in run.tables:
        table = run.tables["lift"]
        rows = [
            f"| {r.decile} | {r.rate:.3f} | {r.lift:.2f} | {r.capture:.0%} | {bar} |"
            for r, bar in zip(table.itertuples(), _bars(table["lift"]), strict=True)
        ]
        head = "| decile | rate | lift | cumulative capture | |\n|---:|---:|---:|---:|:---|"
    elif "deciles" in run.tables:
        table = run.tables["deciles"]
        rows = [
            f"| {r.decile} | {r.predicted:,.0f} | {r.actual:,.0f} | {bar} |"
            for r, bar in zip(table.itertuples(), _bars(table["actual"]), strict=True)
        ]
        head = "| decile | mean predicted | mean actual | actual |\n|---:|---:|---:|:---|"
    else:
        return "No chart for this kind of model."
    calibration = ""
    if "calibration" in run.tables:
        cal = run.tables["calibration"]
        calibration = (
            "\n\n**Calibration** (predicted vs observed, per decile)\n\n| decile | predicted | observed |\n|---:|---:|---:|\n"
            + "\n".join(
                f"| {r.decile} | {r.predicted:.3f} | {r.observed:.3f} |" for r in cal.itertuples()
            )
        )
    return (
        f"**Test cutoff {run.test_cutoff}** (decile 1 = highest scores)\n\n{head}\n"
        + "\n".join(rows)
        + calibration
    )


def model_metadata(run: ModelRun, saved: artifacts.SavedVersion) -> dict:
    metadata: dict = {
        "version": saved.version,
        "published": saved.published,
        "artifact": dg.MetadataValue.path(str(saved.path)),
        "gate": "; ".join(run.gate.reasons),
        "test_cutoff": str(run.test_cutoff),
        "training_window": f"{run.train_cutoffs[0]} .. {run.train_cutoffs[-1]}"
        if run.train_cutoffs
        else "none",
        "horizon_days": run.horizon_days,
        "n_train": run.n_train,
        "n_test": run.n_test,
        "training_data_sha256": run.data_hash,
        "fit_seconds": round(run.fit_seconds, 2),
        "chart": dg.MetadataValue.md(chart(run)),
    }
    metadata |= {f"model/{k}": float(v) for k, v in run.metrics.items()}
    for baseline, values in run.baselines.items():
        metadata |= {f"baseline/{baseline}/{k}": float(v) for k, v in values.items()}
    for detail, values in run.details.items():
        if isinstance(values, dict):
            metadata |= {f"{detail}/{k}": float(v) for k, v in values.items()}
        else:
            metadata[detail] = values
    return metadata


def build_model_asset(spec: ModelSpec) -> dg.AssetsDefinition:
    deps = [SNAPSHOTS[spec.snapshot]]
    if spec.name == "potential_ltv":
        deps.append(model_key("expected_ltv"))  # headroom is measured against it

    @dg.asset(
        name=spec.name,
        key_prefix=["models"],
        group_name="ml",
        deps=deps,
        kinds={"xgboost", "python"},
        description=spec.description,
        check_specs=[
            dg.AssetCheckSpec(
                GATE_CHECK,
                asset=model_key(spec.name),
                blocking=True,
                description=f"Beats {', '.join(spec.baselines)} on {spec.main_metric} and "
                f"{spec.floor[0]} >= {spec.floor[1]} on the test cutoff; else not published.",
            )
        ],
    )
    def _model(context: dg.AssetExecutionContext, warehouse: Warehouse):
        tables = warehouse.client()
        frame = read_snapshot(tables, spec.snapshot, "training")
        expected = None
        if spec.name == "potential_ltv":
            expected = artifacts.load(warehouse.artifacts, "expected_ltv")
        run = train_and_evaluate(spec, frame, read_calendar(tables), expected_ltv=expected)
        saved = artifacts.save(run, warehouse.artifacts)
        context.log.info(f"{spec.name} {saved.version}: {'; '.join(run.gate.reasons)}")
        yield dg.MaterializeResult(metadata=model_metadata(run, saved))
        best = run.best_baseline
        yield dg.AssetCheckResult(
            check_name=GATE_CHECK,
            passed=run.gate.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(run.gate.reasons),
            metadata={
                spec.main_metric: run.metrics.get(spec.main_metric, float("nan")),
                "best_baseline": best[0] if best else "none",
                "best_baseline_value": best[1] if best else float("nan"),
                "published_version": artifacts.published_version(warehouse.artifacts, spec.name)
                or "none",
            },
        )

    return _model


model_assets = [build_model_asset(spec) for spec in SPECS.values()]


@dg.asset(
    key=["scores", "customer_scores"],
    group_name="ml",
    deps=[
        *(model_key(name) for name in SPECS),
        dg.AssetKey(["ml", "ml_scoring_snapshot"]),
        dg.AssetKey(["marts", "customer_segments"]),
    ],
    kinds={"duckdb", "python"},
    description="One row per person: every score (calibrated probabilities and ranks), expected "
    "and potential LTV with headroom, segment, and the model versions that made them.",
    check_specs=[dg.AssetCheckSpec("one_row_per_customer", asset=["scores", "customer_scores"])],
)
def customer_scores_asset(warehouse: Warehouse):
    models = {name: artifacts.load(warehouse.artifacts, name) for name in SPECS}
    scores = customer_scores(warehouse.client(), models)
    rows = write_table(warehouse.client(), "customer_scores", scores)
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "model_versions": dg.MetadataValue.json(
                {name: (m.version if m else None) for name, m in models.items()}
            ),
            "mean_purchase_propensity": float(scores["purchase_propensity"].mean()),
            "total_expected_ltv_usd": float(scores["expected_ltv_usd"].sum()),
            "total_ltv_headroom_usd": float(scores["ltv_headroom_usd"].sum()),
        }
    )
    yield dg.AssetCheckResult(
        check_name="one_row_per_customer",
        passed=bool(scores["customer_key"].is_unique),
        metadata={"rows": rows, "distinct_customers": int(scores["customer_key"].nunique())},
    )


@dg.asset(
    key=["scores", "next_best_offers"],
    group_name="ml",
    deps=[
        dg.AssetKey(["scores", "customer_scores"]),
        dg.AssetKey(["ml", "ml_cross_sell_scoring_snapshot"]),
        dg.AssetKey(["marts", "product_affinity"]),
        dg.AssetKey(["marts", "product_upgrade_paths"]),
    ],
    kinds={"duckdb", "python"},
    description="Per past buyer: the cross-sell category and product (propensity x margin, "
    "backed by product affinity), the upsell product (next tier of their latest family), and "
    "the top three reasons for each, from the models' per-feature contributions.",
)
def next_best_offers_asset(warehouse: Warehouse) -> dg.MaterializeResult:
    offers = next_best_offers(
        warehouse.client(),
        artifacts.load(warehouse.artifacts, "cross_sell"),
        artifacts.load(warehouse.artifacts, "upsell"),
    )
    rows = write_table(warehouse.client(), "next_best_offers", offers)
    sample = offers.dropna(subset=["cross_sell_reasons"]).head(5)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "with_cross_sell": int(offers["cross_sell_category"].notna().sum()),
            "with_upsell": int(offers["upsell_product_id"].notna().sum()),
            "examples": dg.MetadataValue.md(
                "| category | product | reasons |\n|---|---|---|\n"
                + "\n".join(
                    f"| {r.cross_sell_category} | {r.cross_sell_product_id} | {r.cross_sell_reasons} |"
                    for r in sample.itertuples()
                )
            ),
        }
    )
