"""Uplift: who is persuadable by which offer, learned from randomised (or holdout) sends.

A response model ranks people by how likely they are to act; an uplift model ranks them by how
much more likely they are to act *because they were sent something*. Marketing wants the second:
sending to people who would have bought anyway wastes margin, and some people respond worse
when contacted.

Two meta-learners over XGBoost (Künzel, Sekhon, Bickel & Yu, 2019, "Metalearners for estimating
heterogeneous treatment effects using machine learning", PNAS):

- **T-learner**: one outcome model per arm; uplift = P(y | x, arm) - P(y | x, control).
- **X-learner**: the T-learner's models impute each person's individual effect (treated: their
  outcome minus the control model's; control: the arm model's minus their outcome); a second
  model per side learns those effects, and the two are blended by the share treated.

Judged with the Qini curve (Radcliffe, 2007): targeting the top share of people by score, the
incremental responses it would have gained, against targeting at random and against targeting
by the response (propensity) model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb

CONTROL = "control"


def _params(objective: str, seed: int) -> dict:
    return {
        "objective": objective,
        "eta": 0.05,
        "max_depth": 3,
        "min_child_weight": 20,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "lambda": 5.0,
        "seed": seed,
        "nthread": 2,
    }


def _fit(x: pd.DataFrame, y: np.ndarray, objective: str, seed: int, rounds: int) -> xgb.Booster:
    data = xgb.DMatrix(x, label=y, enable_categorical=True)
    return xgb.train(_params(objective, seed), data, num_boost_round=rounds)


def _predict(model: xgb.Booster, x: pd.DataFrame) -> np.ndarray:
    return model.predict(xgb.DMatrix(x, enable_categorical=True))


@dataclass
class UpliftModel:
    """Per treatment arm, the expected gain in the outcome from sending it instead of nothing."""

    learner: str  # "t" or "x"
    binary: bool  # a yes/no outcome (visit, conversion) or an amount (spend)
    arms: list[str] = field(default_factory=list)
    rounds: int = 200
    seed: int = 0

    def fit(self, x: pd.DataFrame, arm: pd.Series, y: np.ndarray) -> UpliftModel:
        arm = pd.Series(np.asarray(arm), index=x.index)
        y = np.asarray(y, dtype=float)
        objective = "binary:logistic" if self.binary else "reg:squarederror"
        self.arms = sorted(a for a in arm.unique() if a != CONTROL)
        control = (arm == CONTROL).to_numpy()
        self.outcome = {
            a: _fit(
                x[(arm == a).to_numpy()],
                y[(arm == a).to_numpy()],
                objective,
                self.seed,
                self.rounds,
            )
            for a in [CONTROL, *self.arms]
        }
        if self.learner == "x":
            self.effect = {}
            self.share_treated = {}
            for a in self.arms:
                treated = (arm == a).to_numpy()
                x_t, x_c = x[treated], x[control]
                # imputed individual effects, each side against the other side's outcome model
                d_t = y[treated] - _predict(self.outcome[CONTROL], x_t)
                d_c = _predict(self.outcome[a], x_c) - y[control]
                self.effect[a] = (
                    _fit(x_t, d_t, "reg:squarederror", self.seed, self.rounds),
                    _fit(x_c, d_c, "reg:squarederror", self.seed, self.rounds),
                )
                self.share_treated[a] = treated.sum() / (treated.sum() + control.sum())
        return self

    def uplift(self, x: pd.DataFrame, arm: str) -> np.ndarray:
        if self.learner == "t":
            return _predict(self.outcome[arm], x) - _predict(self.outcome[CONTROL], x)
        on_treated, on_control = self.effect[arm]
        g = self.share_treated[arm]
        # Künzel et al.: weight each side's effect model by the other side's share
        return g * _predict(on_control, x) + (1 - g) * _predict(on_treated, x)

    def response(self, x: pd.DataFrame, arm: str) -> np.ndarray:
        """The arm's outcome model alone: what targeting by propensity to respond would use."""
        return _predict(self.outcome[arm], x)


def qini_curve(
    score: np.ndarray, treated: np.ndarray, y: np.ndarray, points: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Targeting the top share φ of people by score: the incremental outcome per person in the
    population, Q(φ) = (Y_t(φ) - Y_c(φ) · N_t(φ) / N_c(φ)) / N. Ties are broken at random (a
    fixed seed) so that a constant score draws the random line."""
    score, treated, y = np.asarray(score, float), np.asarray(treated, bool), np.asarray(y, float)
    tie_break = np.random.default_rng(7_919).random(len(score))
    order = np.lexsort((tie_break, -score))
    t, yy = treated[order], y[order]
    n_t, n_c = np.cumsum(t), np.cumsum(~t)
    y_t, y_c = np.cumsum(yy * t), np.cumsum(yy * ~t)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(n_c > 0, y_t - y_c * n_t / np.maximum(n_c, 1), y_t) / len(score)
    share = np.arange(1, len(score) + 1) / len(score)
    at = np.linspace(0, 1, points + 1)
    return at, np.interp(at, np.concatenate([[0.0], share]), np.concatenate([[0.0], gain]))


def qini_coefficient(score: np.ndarray, treated: np.ndarray, y: np.ndarray) -> float:
    """The area between the Qini curve and the random-targeting line (from the origin to the
    gain of sending everyone), in incremental outcomes per person: 0 is no better than random."""
    share, gain = qini_curve(score, treated, y)
    return float(np.trapezoid(gain - share * gain[-1], share))


def uplift_at(score: np.ndarray, treated: np.ndarray, y: np.ndarray, share: float) -> float:
    """Among the top `share` by score: the treated outcome rate minus the control one."""
    score, treated, y = np.asarray(score, float), np.asarray(treated, bool), np.asarray(y, float)
    top = np.argsort(-score, kind="stable")[: max(int(round(share * len(score))), 1)]
    t, c = top[treated[top]], top[~treated[top]]
    if len(t) == 0 or len(c) == 0:
        return float("nan")
    return float(y[t].mean() - y[c].mean())


def bootstrap(
    statistic, arrays: tuple[np.ndarray, ...], rounds: int = 200, seed: int = 0
) -> tuple[float, float]:
    """A 95 % percentile interval of `statistic(*arrays)` over resamples of the rows."""
    rng = np.random.default_rng(seed)
    n = len(arrays[0])
    values = []
    for _ in range(rounds):
        rows = rng.integers(0, n, n)
        values.append(statistic(*(a[rows] for a in arrays)))
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return float(low), float(high)
