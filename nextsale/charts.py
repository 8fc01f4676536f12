"""Charts as self-contained PNG data URIs: the same images in the Dagster UI (Markdown metadata)
and in the HTML report (`nextsale report`), drawn from a model's manifest or a warehouse query.

Figures are built with matplotlib's object API (no pyplot): no global state, no GUI backend.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

MODEL_COLOR = "#1f6feb"
BASELINE_COLORS = ("#8c959f", "#bf8700", "#8250df", "#57606a")
HOLDOUT_COLOR = "#d1d9e0"
MUTED_COLOR = "#eaeef2"


def rounded(value: float | None) -> float:
    """A figure to four significant digits, for the UI's metadata (it shows every digit)."""
    return float("nan") if value is None else float(f"{value:.4g}")


def _figure(width: float = 6.4, height: float = 3.2) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    figure.patch.set_facecolor("white")
    return figure


def _style(axes, grid: str = "y") -> None:
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis=grid, color="#eaeef2", linewidth=0.8)
    axes.set_axisbelow(True)


def data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def markdown_image(title: str, uri: str) -> str:
    return f"![{title}]({uri})"


def _colors(scorers: Sequence[str]) -> dict[str, str]:
    baselines = [s for s in scorers if s != "model"]
    colors = {name: BASELINE_COLORS[i % len(BASELINE_COLORS)] for i, name in enumerate(baselines)}
    return {"model": MODEL_COLOR} | colors


def _scorers(table: pd.DataFrame) -> list[str]:
    """The model first, then the baselines in the order they were judged."""
    names = list(dict.fromkeys(table["scorer"]))
    return sorted(names, key=lambda name: name != "model")


def _usd(value: float, _position=None) -> str:
    if abs(value) >= 10_000:
        return f"${value / 1000:,.0f}k"
    if abs(value) >= 1000:
        return f"${value / 1000:,.1f}k".replace(".0k", "k")
    return f"${value:,.0f}"


def decile_bars(
    records: Sequence[Mapping],
    value: str,
    ylabel: str,
    *,
    reference: float | None = None,
    formatter=None,
    xlabel: str = "decile of predicted score (1 = highest)",
) -> str:
    """Grouped bars per score decile: the model beside each baseline."""
    table = pd.DataFrame(records)
    scorers = _scorers(table)
    colors = _colors(scorers)
    figure = _figure()
    axes = figure.add_subplot()
    width = 0.8 / len(scorers)
    for i, scorer in enumerate(scorers):
        rows = table[table["scorer"] == scorer].sort_values("decile")
        axes.bar(
            rows["decile"] + (i - (len(scorers) - 1) / 2) * width,
            rows[value],
            width=width,
            color=colors[scorer],
            label=scorer,
        )
    if reference is not None:
        axes.axhline(reference, color="#cf222e", linewidth=1, linestyle="--", label="average")
    axes.set_xticks(range(1, 11))
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if formatter is not None:
        axes.yaxis.set_major_formatter(FuncFormatter(formatter))
    axes.legend(frameon=False, fontsize=8)
    _style(axes)
    return data_uri(figure)


def calibration_chart(records: Sequence[Mapping], observed: str, *, money: bool = False) -> str:
    """Mean prediction against the mean outcome per decile: on the diagonal means calibrated."""
    table = pd.DataFrame(records)
    scorers = _scorers(table)
    colors = _colors(scorers)
    figure = _figure(4.8, 3.2)
    axes = figure.add_subplot()
    values = table[["predicted", observed]].to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    top = float(finite.max()) * 1.05 if finite.size else 1.0
    axes.plot([0, top], [0, top], color="#8c959f", linewidth=1, linestyle=":", label="perfect")
    for scorer in scorers:
        rows = table[table["scorer"] == scorer].sort_values("predicted")
        axes.plot(
            rows["predicted"],
            rows[observed],
            marker="o",
            markersize=4,
            linewidth=1.5 if scorer == "model" else 1,
            color=colors[scorer],
            label=scorer,
        )
    axes.set_xlim(0, top)
    axes.set_ylim(0, top)
    axes.set_xlabel("mean predicted, per decile")
    axes.set_ylabel("mean observed")
    if money:
        axes.xaxis.set_major_formatter(FuncFormatter(_usd))
        axes.yaxis.set_major_formatter(FuncFormatter(_usd))
    axes.legend(frameon=False, fontsize=8)
    _style(axes)
    return data_uri(figure)


def model_charts(manifest: Mapping) -> dict[str, str]:
    """A model version's charts on its test cutoff, by title: lift and calibration for
    classifiers, actual value by decile and calibration for revenue models, reorders by decile
    for the survival model (its censored times have no honest calibration plot)."""
    tables = manifest.get("charts") or {}
    charts = {}
    if "reorders" in tables:
        rows = pd.DataFrame(tables["reorders"])
        model = rows[rows["scorer"] == "model"]
        average = float((model["reordered"] * model["people"]).sum() / model["people"].sum())
        charts["Ordered again by decile"] = decile_bars(
            tables["reorders"],
            "reordered",
            "share who ordered again",
            reference=average,
            formatter=lambda v, _: f"{v:.0%}",
            xlabel="decile of predicted days to next order (1 = soonest)",
        )
    if "lift" in tables:
        charts["Lift by decile"] = decile_bars(
            tables["lift"], "lift", "positive rate / average rate", reference=1.0
        )
    if "calibration" in tables:
        charts["Calibration"] = calibration_chart(tables["calibration"], "observed")
    if "deciles" in tables:
        charts["Actual value by decile"] = decile_bars(
            tables["deciles"], "actual", "mean actual value", formatter=_usd
        )
        charts["Calibration"] = calibration_chart(tables["deciles"], "actual", money=True)
    return charts


def metrics_table(manifest: Mapping) -> pd.DataFrame:
    """The model's metrics beside each baseline's on the same test rows (metric per row, the
    main metric first)."""
    metrics = manifest.get("metrics") or {}
    baselines = manifest.get("baselines") or {}
    names = list(metrics) or list(dict.fromkeys(k for v in baselines.values() for k in v))
    main = manifest.get("main_metric")
    names.sort(key=lambda name: name != main)
    columns = {"model": metrics} | dict(baselines)
    return pd.DataFrame(
        {scorer: [values.get(name) for name in names] for scorer, values in columns.items()},
        index=pd.Index(names, name="metric"),
        dtype=float,
    )


def format_number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3f}"


def metrics_markdown(manifest: Mapping) -> str:
    table = metrics_table(manifest)
    if table.empty:
        return "No metrics: " + "; ".join(manifest.get("gate", {}).get("reasons", []))
    header = "| metric | " + " | ".join(table.columns) + " |"
    rule = "|---|" + "---:|" * len(table.columns)
    rows = [
        f"| {'**' + name + '**' if name == manifest.get('main_metric') else name} | "
        + " | ".join(format_number(v) for v in row)
        + " |"
        for name, row in zip(table.index, table.to_numpy(), strict=True)
    ]
    return "\n".join([header, rule, *rows])


def comparisons_markdown(manifest: Mapping) -> str:
    """The model against each baseline on the main metric over the rolling test cutoffs: the
    means, the paired 95 % interval of the difference, and each cutoff's values."""
    comparisons = manifest.get("comparisons") or {}
    if not comparisons:
        return ""
    rows = [
        f"| {c['baseline']} | {format_number(c['model_mean'])} | "
        f"{format_number(c['baseline_mean'])} | {c['difference']:+.4f} "
        f"[{c['low']:+.4f}, {c['high']:+.4f}] | "
        + ", ".join(
            f"{cutoff}: {format_number(m)} vs {format_number(b)}"
            for cutoff, m, b in zip(
                c["cutoffs"], c["model_values"], c["baseline_values"], strict=True
            )
        )
        + " |"
        for c in comparisons.values()
    ]
    metric = next(iter(comparisons.values()))["metric"]
    return "\n".join(
        [
            f"| baseline | model {metric} (mean) | baseline (mean) | difference [95 % interval] "
            "| per test cutoff (model vs baseline) |",
            "|---|---:|---:|---|---|",
            *rows,
        ]
    )


def bar_chart(
    labels: Sequence[str], values: Sequence[float], xlabel: str, *, money: bool = False
) -> str:
    """Horizontal bars, largest first (segment sizes, segment value)."""
    figure = _figure(6.4, max(2.0, 0.32 * len(labels) + 0.8))
    axes = figure.add_subplot()
    order = np.argsort(values)
    axes.barh(np.array(labels)[order], np.array(values, dtype=float)[order], color=MODEL_COLOR)
    axes.set_xlabel(xlabel)
    if money:
        axes.xaxis.set_major_formatter(FuncFormatter(_usd))
    _style(axes, grid="x")
    return data_uri(figure)


def histogram(values: Sequence[float], xlabel: str, *, clip_quantile: float = 0.99) -> str:
    """Distribution of a money amount per person; the long tail past the 99th percentile is
    gathered in the last bin so the bulk stays readable."""
    amounts = np.asarray(values, dtype=float)
    finite = amounts[np.isfinite(amounts)]
    figure = _figure()
    axes = figure.add_subplot()
    if finite.size:
        low, high = min(float(finite.min()), 0.0), float(np.quantile(finite, clip_quantile))
        axes.hist(np.clip(finite, low, high), bins=40, color=MODEL_COLOR)
        axes.axvline(float(np.median(finite)), color="#cf222e", linestyle="--", linewidth=1)
        axes.annotate(
            f"median {_usd(float(np.median(finite)))}",
            xy=(float(np.median(finite)), 1),
            xycoords=("data", "axes fraction"),
            xytext=(4, -12),
            textcoords="offset points",
            fontsize=8,
            color="#cf222e",
        )
    axes.set_xlabel(xlabel)
    axes.set_ylabel("people")
    axes.xaxis.set_major_formatter(FuncFormatter(_usd))
    _style(axes)
    return data_uri(figure)


def audience_chart(audiences: pd.DataFrame) -> str:
    """Per audience: the people sent to, the holdout kept back, the rest held by consent,
    suppression or the weekly cap."""
    table = audiences.sort_values("members")
    figure = _figure(6.4, max(2.0, 0.32 * len(table) + 0.9))
    axes = figure.add_subplot()
    left = np.zeros(len(table))
    parts = [
        ("sendable", "sent to", MODEL_COLOR),
        ("holdout", "holdout (kept back to measure lift)", "#8c959f"),
        ("not_sendable", "held back: consent, suppression, cap", HOLDOUT_COLOR),
    ]
    for column, label, color in parts:
        axes.barh(table["audience"], table[column], left=left, color=color, label=label)
        left += table[column].to_numpy(dtype=float)
    axes.set_xlabel("people")
    axes.legend(frameon=False, fontsize=8, loc="lower right")
    _style(axes, grid="x")
    return data_uri(figure)


def qini_chart(curves: Mapping[str, Sequence[float]]) -> str:
    """Qini curves (incremental orders per person reached, by share targeted) of each scorer on
    the held-out campaign; the random line joins the origin to sending everyone."""
    figure = _figure()
    axes = figure.add_subplot()
    baselines = iter(BASELINE_COLORS)
    for scorer, gain in curves.items():
        if scorer == "random":
            axes.plot([0, 1], [0, gain[-1]], color="#9ca3af", linestyle="--", label="random")
            continue
        color = MODEL_COLOR if scorer == "uplift" else next(baselines)
        axes.plot(np.linspace(0, 1, len(gain)), gain, color=color, label=scorer)
    axes.set_xlabel("share of the campaign's people targeted, by score")
    axes.set_ylabel("incremental orders per person")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _=None: f"{v:.0%}"))
    axes.legend(frameon=False)
    _style(axes)
    return data_uri(figure)
