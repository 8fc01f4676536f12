"""Comparisons that cannot be luck: a model beside each baseline at several test cutoffs, with a
paired bootstrap interval of the difference on the main metric.

Paired: every resample scores the model and the baseline on the same rows. By person: a resample
draws people, not rows, and the same draw serves every cutoff, so a person's rows (one per
cutoff, or one per category for cross-sell) move together and the interval does not pretend that
overlapping test cutoffs are independent evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

BOOTSTRAP_ROUNDS = 200
CONFIDENCE = 0.95

# (prediction, row index) -> the main metric on those rows
Scorer = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class Fold:
    """One test cutoff: whose rows they are, how to score them, and every scorer's predictions
    ("model" and each baseline) on them."""

    cutoff: date
    people: np.ndarray
    score: Scorer
    predictions: dict[str, np.ndarray]


@dataclass(frozen=True)
class Comparison:
    """The model against one baseline on the main metric, over the test cutoffs (latest first)."""

    baseline: str
    metric: str
    higher_is_better: bool
    cutoffs: tuple[date, ...]
    model_values: tuple[float, ...]
    baseline_values: tuple[float, ...]
    difference: float  # mean over cutoffs of (model - baseline)
    low: float  # the bootstrap interval of that mean difference
    high: float

    @property
    def model_mean(self) -> float:
        return float(np.mean(self.model_values))

    @property
    def baseline_mean(self) -> float:
        return float(np.mean(self.baseline_values))

    @property
    def credibly_better(self) -> bool:
        """Better on average, and the whole interval on the better side of 0."""
        if self.higher_is_better:
            return self.difference > 0 and self.low > 0
        return self.difference < 0 and self.high < 0

    def describe(self) -> str:
        return (
            f"{self.metric} {self.model_mean:.4f} vs {self.baseline_mean:.4f} on average over "
            f"{len(self.cutoffs)} test cutoff{'s' * (len(self.cutoffs) > 1)}, difference "
            f"{self.difference:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"
        )

    def as_dict(self) -> dict:
        return {
            "baseline": self.baseline,
            "metric": self.metric,
            "cutoffs": [c.isoformat() for c in self.cutoffs],
            "model_values": list(self.model_values),
            "baseline_values": list(self.baseline_values),
            "model_mean": self.model_mean,
            "baseline_mean": self.baseline_mean,
            "difference": self.difference,
            "low": self.low,
            "high": self.high,
            "confidence": CONFIDENCE,
            "credibly_better": self.credibly_better,
        }


def compare(
    folds: list[Fold],
    metric: str,
    higher_is_better: bool,
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = 0,
) -> dict[str, Comparison]:
    """Each baseline against "model": per-cutoff values on all rows, and the percentile
    interval of the mean difference over `rounds` resamples of people."""
    if not folds:
        return {}
    codes, people = pd.factorize(np.concatenate([f.people for f in folds]))
    starts = np.cumsum([0] + [len(f.people) for f in folds])
    fold_codes = [codes[a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]
    scorers = [name for name in folds[0].predictions if name != "model"]
    observed = {
        name: np.array([f.score(f.predictions[name], np.arange(len(f.people))) for f in folds])
        for name in ["model", *scorers]
    }
    rng = np.random.default_rng(seed)
    differences = np.full((len(scorers), rounds), np.nan)
    for r in range(rounds):
        counts = np.bincount(rng.integers(0, len(people), len(people)), minlength=len(people))
        per_fold = np.full((len(scorers), len(folds)), np.nan)
        for j, (fold, person) in enumerate(zip(folds, fold_codes, strict=True)):
            rows = np.repeat(np.arange(len(person)), counts[person])
            model = fold.score(fold.predictions["model"], rows)
            for i, name in enumerate(scorers):
                per_fold[i, j] = model - fold.score(fold.predictions[name], rows)
        differences[:, r] = per_fold.mean(axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    out = {}
    for i, name in enumerate(scorers):
        low, high = np.nanpercentile(differences[i], [tail, 100 - tail])
        out[name] = Comparison(
            baseline=name,
            metric=metric,
            higher_is_better=higher_is_better,
            cutoffs=tuple(f.cutoff for f in folds),
            model_values=tuple(float(v) for v in observed["model"]),
            baseline_values=tuple(float(v) for v in observed[name]),
            difference=float(np.mean(observed["model"] - observed[name])),
            low=float(low),
            high=float(high),
        )
    return out
