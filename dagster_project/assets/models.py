"""The models (ml/) as assets: one per model, each judged by its quality gate (a check that
decides publication and never stops the run), then what the published versions write: the
scores, the cross-sell candidates and offer choices that next_best_offers (dbt) ranks, and the
reasons behind the offers of the people an audience sends to."""

import time
from pathlib import Path

import dagster as dg
import pandas as pd

from dagster_project.assets import DAILY_FRESHNESS
from dagster_project.assets.dbt import dbt_model_key, dbt_relation_key
from dagster_project.resources import WarehouseResource
from ml import artifacts
from ml import offers as offer_model
from ml.data import TABLES, read_calendar, read_snapshot
from ml.score import (
    cross_sell_candidates,
    customer_scores,
    offer_choices,
    offer_reasons,
    write_table,
)
from ml.specs import CANDIDATES_SPEC, OFFER_SPECS, SPECS, ModelSpec
from ml.train import train_and_evaluate
from nextsale import charts
from nextsale.charts import rounded

OFFER_REASONS = dg.AssetKey(["scores", "offer_reasons"])
GATE_CHECK = "beats_baselines"
CARD = "card.md"  # the model card of a version, written beside its manifest by the asset


def model_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["models", name])


def model_card(manifest: dict) -> str:
    """The model beside its baselines on the test cutoff, and its charts, as Markdown the UI
    renders (images embedded as data URIs: nothing to serve)."""
    published = "published" if manifest["gate"]["passed"] else "**held back**"
    where = (
        f"on the test cutoff {manifest['test_cutoff']} ({manifest['n_test']:,} rows)"
        if manifest["test_cutoff"]
        else "without a test cutoff"
    )
    parts = [
        f"**{manifest['model']}** {where}, {published}: {'; '.join(manifest['gate']['reasons'])}",
        charts.comparisons_markdown(manifest),
        charts.metrics_markdown(manifest),
    ]
    parts = [part for part in parts if part]
    parts += [
        f"**{title}**\n\n{charts.markdown_image(title, uri)}"
        for title, uri in charts.model_charts(manifest).items()
    ]
    return "\n\n".join(parts)


def model_metadata(saved: artifacts.SavedVersion, card: str) -> dict:
    """A version's metadata for the UI, from its manifest (a reused version has no run)."""
    manifest = saved.manifest
    cutoffs = manifest["train_cutoffs"]
    metadata: dict = {
        "model_vs_baselines": dg.MetadataValue.md(card),
        "version": saved.version,
        "published": saved.published,
        "artifact": dg.MetadataValue.path(str(saved.path)),
        "gate": "; ".join(manifest["gate"]["reasons"]),
        "test_cutoff": str(manifest["test_cutoff"]),
        "training_window": f"{cutoffs[0]} .. {cutoffs[-1]}" if cutoffs else "none",
        "horizon_days": manifest["horizon_days"],
        "n_train": manifest["n_train"],
        "n_test": manifest["n_test"],
        "training_data_sha256": manifest["training_data_sha256"],
        "fit_seconds": round(manifest["fit_seconds"], 2),
    }
    metadata |= {f"model/{k}": rounded(v) for k, v in manifest["metrics"].items()}
    for baseline, values in manifest["baselines"].items():
        metadata |= {f"baseline/{baseline}/{k}": rounded(v) for k, v in values.items()}
    for baseline, c in manifest.get("comparisons", {}).items():
        metadata |= {
            f"vs/{baseline}/{k}": rounded(c[k])
            for k in ("model_mean", "baseline_mean", "difference", "low", "high")
        }
    if manifest.get("folds"):
        metadata["test_cutoffs"] = ", ".join(f["test_cutoff"] for f in manifest["folds"])
    for detail, values in manifest.get("details", {}).items():
        if isinstance(values, dict):
            metadata |= {f"{detail}/{k}": rounded(v) for k, v in values.items()}
        else:
            metadata[detail] = rounded(values) if isinstance(values, float) else values
    return metadata


def gate_message(manifest: dict, published: str | None) -> str:
    """What the gate decided and what it means for the scores a person will see."""
    reasons = "; ".join(manifest["gate"]["reasons"])
    version = manifest["version"]
    if manifest["gate"]["passed"]:
        return f"Published {version}: {reasons}."
    kept = (
        f"scores keep coming from {published}, the last version that passed"
        if published
        else "no version has passed yet, so this model's scores stay empty"
    )
    return (
        f"Held back {version}: {reasons}. It is not published; {kept}. The run goes on: "
        "consent and the activation tables never wait for a model."
    )


def model_description(spec: ModelSpec, artifacts_dir: Path | None) -> str:
    """What the model is, then the latest version's card (beside its baselines, with the
    charts): the description is what the UI renders first on the asset's page, as Markdown.
    It is read, not drawn, when the definitions load (`make ui` or "Reload definitions" shows
    a newer one)."""
    if artifacts_dir is None:
        return spec.description
    latest = artifacts.latest_manifest(artifacts_dir, spec.name)
    card = artifacts_dir / "models" / spec.name / latest["version"] / CARD if latest else None
    if card is None or not card.is_file():
        return spec.description
    return f"{spec.description}\n\n{card.read_text()}"


def build_model_asset(spec: ModelSpec, artifacts_dir: Path | None = None) -> dg.AssetsDefinition:
    deps = [dbt_relation_key(TABLES[(spec.snapshot, "training")])]

    @dg.asset(
        name=spec.name,
        key_prefix=["models"],
        group_name="ml",
        deps=deps,
        kinds={"xgboost", "python"},
        description=model_description(spec, artifacts_dir),
        check_specs=[
            # not blocking: the scores read only published versions, and consent, suppression
            # and the activation tables must be rebuilt in every run whatever a model does
            dg.AssetCheckSpec(
                GATE_CHECK,
                asset=model_key(spec.name),
                description=f"Beats {', '.join(spec.baselines)} on {spec.main_metric} on "
                "average over the rolling test cutoffs, with the 95 % interval of the difference "
                f"above 0, and {spec.floor[0]} >= {spec.floor[1]} on the latest test cutoff; "
                "else not published.",
            )
        ],
    )
    def _model(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        tables = warehouse.client()
        frame = read_snapshot(tables, spec.snapshot, "training")
        calendar = read_calendar(tables)
        fingerprint = artifacts.inputs_fingerprint(frame, calendar=calendar)
        saved = artifacts.reuse(warehouse.artifacts, spec.name, fingerprint)
        trained = saved is None
        if saved is not None:
            context.log.info(
                f"{spec.name}: the training rows, calendar and model code are those of "
                f"{saved.version}; not trained again"
            )
        else:
            run = train_and_evaluate(spec, frame, calendar)
            saved = artifacts.save(run, warehouse.artifacts, fingerprint)
            context.log.info(f"{spec.name} {saved.version}: {'; '.join(run.gate.reasons)}")
        manifest = saved.manifest
        card = model_card(manifest)
        (saved.path / CARD).write_text(card)  # the asset's description reads it on load
        yield dg.MaterializeResult(
            metadata=model_metadata(saved, card) | {"trained_this_run": trained}
        )
        best = manifest.get("best_baseline")
        published = artifacts.published_version(warehouse.artifacts, spec.name)
        yield dg.AssetCheckResult(
            check_name=GATE_CHECK,
            passed=manifest["gate"]["passed"],
            severity=dg.AssetCheckSeverity.ERROR,
            description=gate_message(manifest, published),
            metadata={
                spec.main_metric: rounded(manifest["metrics"].get(spec.main_metric)),
                "best_baseline": best[0] if best else "none",
                "best_baseline_value": rounded(best[1]) if best else float("nan"),
                "published_version": published or "none",
            },
        )

    return _model


def build_model_assets(artifacts_dir: Path | None = None) -> list[dg.AssetsDefinition]:
    return [build_model_asset(spec, artifacts_dir) for spec in SPECS.values()]


SCORES = dg.AssetKey(["scores", "customer_scores"])
MODEL_STATUS = dg.AssetKey(["scores", "model_status"])
CROSS_SELL_CANDIDATES = dg.AssetKey(["scores", "cross_sell_candidates"])
OFFER_CHOICES = dg.AssetKey(["scores", "offer_choices"])


@dg.multi_asset(
    name="customer_scores",
    group_name="ml",
    specs=[
        dg.AssetSpec(
            SCORES,
            freshness_policy=DAILY_FRESHNESS,
            deps=[
                *(model_key(name) for name in SPECS),
                dbt_model_key("ml_scoring_snapshot"),
                dbt_model_key("customer_segments"),
            ],
            kinds={"duckdb", "python"},
            description="One row per person: every score (calibrated probabilities and "
            "ranks), expected and potential LTV with headroom, segment, and the model versions "
            "that made them.",
        ),
        dg.AssetSpec(
            MODEL_STATUS,
            deps=[model_key(name) for name in SPECS],
            kinds={"duckdb", "python"},
            description="One row per model: the version whose scores are used, or why its "
            "scores are null (no version has passed its gate), and what the latest gate said. "
            "activation.audience_status reads it to say why an audience is empty.",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "one_row_per_customer",
            asset=SCORES,
            description="Each person is scored once. A duplicate fails the activation "
            "candidates' unique tests, so the syncs keep the last good build; consent and "
            "erasures are still applied.",
        )
    ],
)
def customer_scores_asset(warehouse: WarehouseResource):
    models = {name: artifacts.load(warehouse.artifacts, name) for name in SPECS}
    scores = customer_scores(warehouse.client(), models)
    rows = write_table(warehouse.client(), "customer_scores", scores)
    # which version each score comes from, or why it is null: audience_status reads it
    status = artifacts.model_status(warehouse.artifacts, [*SPECS, offer_model.NAME])
    yield dg.MaterializeResult(
        asset_key=MODEL_STATUS,
        metadata={
            "dagster/row_count": write_table(warehouse.client(), "model_status", status),
            "models": dg.MetadataValue.md(
                "| model | scores | gate |\n|---|---|---|\n"
                + "\n".join(
                    f"| {r.model} | {r.scores} | {r.gate_reason} |" for r in status.itertuples()
                )
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key=SCORES,
        metadata={
            "dagster/row_count": rows,
            "model_versions": dg.MetadataValue.json(
                {name: (m.version if m else None) for name, m in models.items()}
            ),
            **score_headlines(scores),
        },
    )
    duplicated = int(scores["customer_key"].duplicated().sum())
    yield dg.AssetCheckResult(
        check_name="one_row_per_customer",
        asset_key=SCORES,
        passed=duplicated == 0,
        description=f"{duplicated:,} people scored more than once: the activation candidates "
        "fail their unique tests and are not published until scoring is fixed."
        if duplicated
        else None,
        metadata={"rows": rows, "distinct_customers": int(scores["customer_key"].nunique())},
    )


def score_headlines(scores: pd.DataFrame) -> dict[str, float]:
    """A figure per score column the specs declare: money summed over everyone scored (what the
    book is worth), propensities and days averaged."""
    headlines = {}
    for spec in SPECS.values():
        for column in (spec.score_column, *spec.derived_scores) if spec.score_column else ():
            if column.endswith("_usd"):
                headlines[f"total_{column}"] = round(float(scores[column].sum()), 2)
            else:
                headlines[f"mean_{column}"] = rounded(scores[column].mean())
    return headlines


@dg.asset(
    key=CROSS_SELL_CANDIDATES,
    group_name="ml",
    freshness_policy=DAILY_FRESHNESS,
    deps=[
        dbt_relation_key(TABLES[(CANDIDATES_SPEC.snapshot, "scoring")]),
        model_key(CANDIDATES_SPEC.name),
    ],
    kinds={"duckdb", "python"},
    description="Every category a past buyer has not bought and could be offered, with the "
    "published cross-sell model's propensity. next_best_offers (dbt) ranks them by propensity "
    "x margin and picks the product.",
)
def cross_sell_candidates_asset(warehouse: WarehouseResource) -> dg.MaterializeResult:
    candidates = cross_sell_candidates(
        warehouse.client(), artifacts.load(warehouse.artifacts, CANDIDATES_SPEC.name)
    )
    rows = write_table(warehouse.client(), "cross_sell_candidates", candidates)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "people": int(candidates["component_id"].nunique()),
            "categories": int(candidates["category"].nunique()),
        }
    )


@dg.asset(
    key=OFFER_CHOICES,
    group_name="ml",
    freshness_policy=DAILY_FRESHNESS,
    deps=[
        dbt_model_key("ml_scoring_snapshot"),
        dbt_model_key("ml_offer_scoring_snapshot"),
        dbt_model_key("customer_360"),
        dbt_model_key("shop_margin_rate"),
        model_key(offer_model.NAME),
    ],
    kinds={"duckdb", "python"},
    description="Per past buyer, the offer type and channel with the highest expected "
    "incremental margin (offer_uplift), on a channel they consented to, with why. "
    "next_best_offers (dbt) joins it on.",
)
def offer_choices_asset(warehouse: WarehouseResource) -> dg.MaterializeResult:
    choices = offer_choices(warehouse.client(), offer_model.load(warehouse.artifacts))
    rows = write_table(warehouse.client(), "offer_choices", choices)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "with_offer": int(choices["offer_type"].notna().sum()),
            "offers": dg.MetadataValue.md(offer_mix(choices)),
        }
    )


@dg.asset(
    key=OFFER_REASONS,
    group_name="ml",
    freshness_policy=DAILY_FRESHNESS,
    deps=[
        dbt_model_key("audience_members"),
        dbt_model_key("next_best_offers"),
        dbt_model_key("ml_scoring_snapshot"),
        dbt_model_key("ml_cross_sell_scoring_snapshot"),
        *(model_key(spec.name) for spec in OFFER_SPECS),
    ],
    kinds={"duckdb", "python"},
    description="For every person an audience will send to: the top three reasons behind "
    "their cross-sell and upsell offers, in words, from the published models' exact per-feature "
    "contributions (TreeSHAP). The destination tables carry them; nobody else is explained.",
)
def offer_reasons_asset(warehouse: WarehouseResource) -> dg.MaterializeResult:
    started = time.perf_counter()
    models = {spec.name: artifacts.load(warehouse.artifacts, spec.name) for spec in OFFER_SPECS}
    reasons = offer_reasons(warehouse.client(), models)
    rows = write_table(warehouse.client(), "offer_reasons", reasons)
    columns = [f"{name}_reasons" for name in models]
    sample = reasons.dropna(subset=columns[:1]).head(5).fillna("")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            **{
                f"{name}_explained": int(reasons[f"{name}_reasons"].notna().sum())
                for name in models
            },
            "seconds": round(time.perf_counter() - started, 1),
            # what exact TreeSHAP costs grows with the trees: kept beside the timing
            "trees": dg.MetadataValue.json(
                {n: m.booster.num_boosted_rounds() for n, m in models.items() if m}
            ),
            "examples": dg.MetadataValue.md(
                "| "
                + " | ".join(c.replace("_", " ") for c in columns)
                + " |\n"
                + "|---" * len(columns)
                + "|\n"
                + "\n".join(
                    "| " + " | ".join(row) + " |" for row in sample[columns].itertuples(index=False)
                )
            ),
        }
    )


def offer_mix(offers) -> str:
    """How many people each offer and channel was picked for, and its mean expected margin."""
    picked = offers.dropna(subset=["offer_type"])
    if picked.empty:
        return (
            "No offer picked: "
            + (offers["offer_reason"].dropna().head(1).tolist() or ["no buyers"])[0]
        )
    mix = (
        picked.assign(
            offer=picked["offer_type"]
            + picked["offer_discount_percent"].map(lambda d: f" {d:.0f}%" if d == d else "")
        )
        .groupby(["offer", "offer_channel"])["offer_expected_incremental_margin_usd"]
        .agg(["size", "mean"])
        .reset_index()
    )
    return (
        "| offer | channel | people | mean expected incremental margin |\n|---|---|---:|---:|\n"
        + "\n".join(
            f"| {r.offer} | {r.offer_channel} | {r.size:,} | {r.mean:,.2f} USD |"
            for r in mix.itertuples()
        )
    )
