"""`nextsale report`: one self-contained HTML page of what the last run made, for the people who
decide what to send. Plots are embedded PNGs and the style is inline: the file can
be mailed or attached to a ticket and opens anywhere, offline.

Every section reads what is there and says what is missing and how to make it, so the report
also works part-way through a first run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import jinja2
import pandas as pd

from ml import offers
from ml.artifacts import latest_manifest, published_version
from ml.specs import SPECS
from nextsale import charts
from nextsale.config import Settings
from nextsale.sync.state import LAST_RUNS_SQL, last_runs
from nextsale.warehouse import Warehouse

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("nextsale", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)
TEMPLATES.filters["number"] = charts.format_number
TEMPLATES.filters["usd"] = lambda v: (
    "–" if v is None or pd.isna(v) else f"{'−' if v < 0 else ''}${abs(v):,.0f}"
)
TEMPLATES.filters["cents"] = lambda v: (
    "–" if v is None or pd.isna(v) else f"{'−' if v < 0 else ''}${abs(v):,.2f}"
)
TEMPLATES.filters["count"] = lambda v: "–" if v is None or pd.isna(v) else f"{int(v):,}"

SEGMENTS_SQL = """
select
    s.rfm_segment as segment,
    count(*) as people,
    sum(coalesce(c.revenue_last_365d_usd, 0)) as revenue_last_365d_usd,
    {scores}
from marts.customer_segments as s
join marts.customer_360 as c on c.customer_key = s.customer_key
{join_scores}
group by s.rfm_segment
order by people desc
"""
AUDIENCES_SQL = """
select
    audience,
    min(channel) as channel,
    count(*) as members,
    count(case when is_sendable then 1 end) as sendable,
    count(case when is_holdout and suppression_reason is null then 1 end) as holdout,
    count(case when not is_sendable
        and not (is_holdout and suppression_reason is null) then 1 end) as not_sendable
from activation.audience_members
group by audience
order by members desc
"""
CAMPAIGN_LIFT_SQL = """
select campaign_id, audience, offer, sent, holdout, holdout_can_measure,
    max(case when measure = 'conversion_rate' then treated_value end) as conversion_sent,
    max(case when measure = 'conversion_rate' then holdout_value end) as conversion_holdout,
    max(case when measure = 'conversion_rate' then lift end) as conversion_lift,
    max(case when measure = 'conversion_rate' then lift_low end) as conversion_low,
    max(case when measure = 'conversion_rate' then lift_high end) as conversion_high,
    max(case when measure = 'incremental_revenue' then lift end) as incremental_revenue,
    max(case when measure = 'incremental_revenue' then lift_low end) as incremental_low,
    max(case when measure = 'incremental_revenue' then lift_high end) as incremental_high
from scores.campaign_lift
group by campaign_id, audience, offer, sent, holdout, holdout_can_measure
order by campaign_id, audience, offer
"""
OFFER_MIX_SQL = """
select
    coalesce(offer_type || case when offer_discount_percent is not null
        then ' ' || cast(cast(offer_discount_percent as integer) as varchar) || '%' else '' end,
        'nothing') as offer,
    coalesce(offer_channel, '–') as channel,
    count(*) as people,
    avg(offer_order_chance_uplift) as order_chance_uplift,
    avg(offer_expected_incremental_margin_usd) as expected_margin_usd,
    sum(offer_expected_incremental_margin_usd) as total_expected_margin_usd
from scores.next_best_offers
group by 1, 2
order by people desc
"""
FAILURES_SQL = f"""
select destination, message, count(*) as records, min(record_key) as example
from sync.failures
where run_id in (select run_id from ({LAST_RUNS_SQL}) as last_runs)
group by all
order by records desc
limit 20
"""


@dataclass
class ModelSection:
    name: str
    description: str
    manifest: dict | None
    published: str | None
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    charts: dict[str, str] = field(default_factory=dict)


@dataclass
class Report:
    generated_at: datetime
    target: str
    as_of: str | None
    headline: dict[str, float]
    segments: pd.DataFrame | None
    segment_charts: dict[str, str]
    models: list[ModelSection]
    ltv: dict[str, str] | None  # label -> the figure in words
    ltv_charts: dict[str, str]
    audiences: pd.DataFrame | None
    audience_chart: str | None
    syncs: pd.DataFrame | None
    sync_failures: pd.DataFrame | None
    campaign_lift: pd.DataFrame | None = None
    offer_model: dict | None = None  # the offer model's latest manifest
    offer_chart: str | None = None
    offer_mix: pd.DataFrame | None = None


LTV_SQL = """
select
    x.expected_ltv_usd,
    x.potential_ltv_usd,
    x.ltv_headroom_usd,
    x.value_if_converted_usd,
    x.purchase_propensity,
    coalesce(c.frequency, 0) > 0 as is_past_buyer
from scores.customer_scores as x
left join marts.customer_360 as c on c.customer_key = x.customer_key
"""


def _usd(value: float | None) -> str:
    return TEMPLATES.filters["usd"](value)


def ltv_figures(scores: pd.DataFrame, artifacts_dir: Path) -> dict[str, str]:
    """The LTV totals the definitions support, each said in words: the expected total with the
    range its test cutoffs' errors give, past buyers' headroom and how it was validated, and
    prospects apart (their value if converted beside their chance to buy, never headroom)."""
    buyers, prospects = scores[scores["is_past_buyer"]], scores[~scores["is_past_buyer"]]
    figures = {"people scored": f"{len(scores):,}"}
    if scores["expected_ltv_usd"].notna().any():
        total = float(scores["expected_ltv_usd"].sum())
        figures["expected LTV, everyone"] = _usd(total)
        expected = latest_manifest(artifacts_dir, "expected_ltv") or {}
        ratios = [
            f["metrics"]["total_ratio"]
            for f in expected.get("folds", [])
            if (f["metrics"].get("total_ratio") or 0) > 0
        ]
        if ratios:
            # predicted / actual was in [lo, hi] when tested, so actual = predicted / ratio
            figures["expected LTV, the range its test cutoffs' errors give"] = (
                f"{_usd(total / max(ratios))} to {_usd(total / min(ratios))} (predicted over "
                f"actual revenue was {', '.join(f'{r:.2f}' for r in ratios)} at its test cutoffs)"
            )
        figures["past buyers: expected LTV"] = _usd(buyers["expected_ltv_usd"].sum())
    else:
        latest = latest_manifest(artifacts_dir, "expected_ltv") or {}
        figures["expected LTV"] = "not shown: no expected LTV version has been published" + (
            f" (latest: {'; '.join(latest['gate']['reasons'])})" if latest.get("gate") else ""
        )
    # headroom as scored comes from the published version: shown only if that version's
    # headroom was tested against realised growth and passed
    in_use = published_version(artifacts_dir, "potential_ltv")
    manifest = (
        json.loads((artifacts_dir / "models" / "potential_ltv" / in_use / "model.json").read_text())
        if in_use
        else {}
    )
    validation = (manifest.get("details") or {}).get("headroom")
    if validation and manifest.get("gate", {}).get("passed"):
        with_headroom = buyers["ltv_headroom_usd"].fillna(0) > 0
        figures["past buyers: headroom (potential - spend today, never below 0)"] = (
            f"{_usd(buyers['ltv_headroom_usd'].sum())} on {int(with_headroom.sum()):,} of "
            f"{len(buyers):,} past buyers"
        )
        figures["headroom, as tested"] = (
            f"the top headroom decile grew its revenue by "
            f"{_usd(validation['top_decile_growth_usd'])} a person against last period, the "
            f"bottom decile by {_usd(validation['bottom_decile_growth_usd'])}; headroom ranks "
            f"that growth with Spearman {validation['spearman_with_growth']:.2f}, the gap to "
            f"the segment's median with {validation['baseline_spearman_with_growth']:.2f}"
        )
    else:
        latest = latest_manifest(artifacts_dir, "potential_ltv") or {}
        figures["past buyers: headroom"] = (
            "not shown: no published potential LTV version passed the test that headroom ranks "
            "realised growth"
            + (f" (latest: {'; '.join(latest['gate']['reasons'])})" if latest.get("gate") else "")
        )
    if len(prospects):
        figures["prospects (never bought)"] = (
            f"{len(prospects):,}, mean chance to buy in the propensity horizon "
            + (
                f"{prospects['purchase_propensity'].mean():.1%}"
                if prospects["purchase_propensity"].notna().any()
                else "unknown (no published propensity model)"
            )
        )
        figures["prospects: value if converted, a person"] = _usd(
            prospects["value_if_converted_usd"].dropna().mean()
            if prospects["value_if_converted_usd"].notna().any()
            else None
        )
        if prospects["expected_ltv_usd"].notna().any():
            figures["prospects: expected LTV (chance-weighted, in the total above)"] = _usd(
                prospects["expected_ltv_usd"].sum()
            )
    return figures


def _tables(warehouse: Warehouse) -> set[str]:
    found = warehouse.query(
        "select table_schema || '.' || table_name as name from information_schema.tables"
    )
    return set(found["name"])


def _segments(warehouse: Warehouse, has_scores: bool) -> pd.DataFrame:
    if has_scores:
        sql = SEGMENTS_SQL.format(
            scores="sum(coalesce(x.expected_ltv_usd, 0)) as expected_ltv_usd, "
            "sum(coalesce(x.ltv_headroom_usd, 0)) as ltv_headroom_usd",
            join_scores="left join scores.customer_scores as x on x.customer_key = s.customer_key",
        )
    else:
        sql = SEGMENTS_SQL.format(
            scores="null as expected_ltv_usd, null as ltv_headroom_usd", join_scores=""
        )
    return warehouse.query(sql)


def _models(artifacts_dir: Path) -> list[ModelSection]:
    sections = []
    for name, spec in SPECS.items():
        manifest = latest_manifest(artifacts_dir, name)
        section = ModelSection(name, spec.description, manifest, None)
        if manifest is not None:
            section.published = published_version(artifacts_dir, name)
            section.metrics = charts.metrics_table(manifest)
            section.charts = charts.model_charts(manifest)
        sections.append(section)
    return sections


def _sync_log(duckdb_path: Path) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The sync engine keeps its log in the DuckDB file, whatever the dbt target."""
    if not duckdb_path.exists():
        return None, None
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        present = {
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = 'sync'"
            ).fetchall()
        }
        if "log" not in present:
            return None, None
        syncs = last_runs(con)
        failures = con.execute(FAILURES_SQL).df() if "failures" in present else None
    return syncs, failures


def collect(settings: Settings) -> Report:
    """Everything the page shows, read from the warehouse, the model store and the sync log."""
    warehouse = settings.warehouse()
    tables = _tables(warehouse)
    has_scores = "scores.customer_scores" in tables
    report = Report(
        generated_at=datetime.now(UTC),
        target=settings.dbt_target,
        as_of=None,
        headline={},
        segments=None,
        segment_charts={},
        models=_models(settings.artifacts_dir),
        ltv=None,
        ltv_charts={},
        audiences=None,
        audience_chart=None,
        syncs=None,
        sync_failures=None,
    )
    if "marts.customer_360" in tables:
        people = warehouse.query(
            "select count(*) as people, count(case when frequency > 0 then 1 end) as buyers, "
            "max(as_of_date) as as_of from marts.customer_360"
        ).iloc[0]
        report.as_of = f"{pd.Timestamp(people['as_of']):%Y-%m-%d}"
        report.headline |= {"people": people["people"], "past buyers": people["buyers"]}
    if {"marts.customer_segments", "marts.customer_360"} <= tables:
        segments = _segments(warehouse, has_scores)
        report.segments = segments
        report.segment_charts["People per segment"] = charts.bar_chart(
            segments["segment"], segments["people"], "people"
        )
        value = "expected_ltv_usd" if has_scores else "revenue_last_365d_usd"
        title = "Expected LTV per segment" if has_scores else "Revenue per segment, last 365 days"
        report.segment_charts[title] = charts.bar_chart(
            segments["segment"], segments[value].fillna(0), "USD", money=True
        )
    if has_scores and "marts.customer_360" in tables:
        scores = warehouse.query(LTV_SQL)
        if len(scores):
            report.ltv = ltv_figures(scores, settings.artifacts_dir)
            buyers = scores[scores["is_past_buyer"]]
            if scores["expected_ltv_usd"].notna().any():
                report.headline["expected LTV, next 12 months"] = scores["expected_ltv_usd"].sum()
                report.ltv_charts["Expected LTV per person"] = charts.histogram(
                    scores["expected_ltv_usd"].dropna(), "expected LTV (USD)"
                )
            if "headroom, as tested" in report.ltv:  # a validated headroom is in use
                report.headline["LTV headroom, past buyers"] = buyers["ltv_headroom_usd"].sum()
                report.ltv_charts[
                    "Headroom per past buyer (potential - spend today, never below 0)"
                ] = charts.histogram(buyers["ltv_headroom_usd"].dropna(), "headroom (USD)")
    if "activation.audience_members" in tables:
        audiences = warehouse.query(AUDIENCES_SQL)
        if "activation.audience_status" in tables:  # empty audiences too, and why
            status = warehouse.query(
                "select audience, channel, status_reason from activation.audience_status"
            )
            audiences = audiences.drop(columns="channel").merge(status, on="audience", how="outer")
            counts = ["members", "sendable", "holdout", "not_sendable"]
            audiences[counts] = audiences[counts].fillna(0).astype(int)
            audiences = audiences.sort_values("members", ascending=False)
        else:
            audiences["status_reason"] = None
        report.audiences = audiences
        if len(audiences):
            report.audience_chart = charts.audience_chart(audiences)
            report.headline["sendable audience members"] = audiences["sendable"].sum()
    if "scores.campaign_lift" in tables:
        report.campaign_lift = warehouse.query(CAMPAIGN_LIFT_SQL)
    report.offer_model = latest_manifest(settings.artifacts_dir, offers.NAME)
    if report.offer_model and report.offer_model.get("qini_curves"):
        report.offer_chart = charts.qini_chart(report.offer_model["qini_curves"])
    if "scores.next_best_offers" in tables:
        report.offer_mix = warehouse.query(OFFER_MIX_SQL)
    report.syncs, report.sync_failures = _sync_log(settings.duckdb_path)
    return report


def render(report: Report) -> str:
    return TEMPLATES.get_template("report.html").render(report=report)


def write_report(settings: Settings, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(collect(settings)), encoding="utf-8")
    return out
