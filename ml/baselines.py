"""Simple baselines, fitted on the same training rows and judged on the same test rows.

They are what a careful analyst would ship without machine learning, at their honest best:
rates learned per cell of a transparent rule (RFM, the category of similar customers, a person's
own interest in a category), last period's spend, and the BG/NBD and Pareto/NBD repeat-buying models
with Gamma-Gamma spend, fitted by maximum likelihood.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar, cast

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from ml.data import survival_bounds
from ml.specs import ModelSpec

CellRule = Callable[[pd.DataFrame, dict[str, np.ndarray]], pd.Series]


def _quintile_edges(values: pd.Series) -> np.ndarray:
    return np.unique(np.nanquantile(values.to_numpy(dtype=float), [0.2, 0.4, 0.6, 0.8]))


def _quintile(values: pd.Series, edges: np.ndarray) -> pd.Series:
    return pd.Series(
        np.searchsorted(edges, values.to_numpy(dtype=float), side="right"), values.index
    )


def rfm_edges(train: pd.DataFrame) -> dict[str, np.ndarray]:
    buyers = train[train["orders_count"] > 0]
    return {c: _quintile_edges(buyers[c]) for c in ("recency_days", "orders_count", "revenue_usd")}


def rfm_cells(frame: pd.DataFrame, edges: dict[str, np.ndarray]) -> pd.Series:
    """The classic R x F x M quintile grid (125 cells), plus one cell for people with no order."""
    cells = (
        _quintile(frame["recency_days"], edges["recency_days"]).astype(str)
        + _quintile(frame["orders_count"], edges["orders_count"]).astype(str)
        + _quintile(frame["revenue_usd"], edges["revenue_usd"]).astype(str)
    )
    return cells.where(frame["orders_count"] > 0, "no orders")


def similar_customer_cells(frame: pd.DataFrame, edges: dict[str, np.ndarray]) -> pd.Series:
    """Category x the category the person buys most: popularity among similar customers."""
    return frame["category"].astype(str) + " | " + frame["primary_category"].astype(str)


def personal_interest_cells(frame: pd.DataFrame, edges: dict[str, np.ndarray]) -> pd.Series:
    """The person's own interest in the category (how often and how lately they viewed it),
    within the similar-customers cell: the next-basket literature's hardest baseline, a
    person's own frequency and recency per category, for categories not bought yet. Without
    web data every view count is 0 and it is popularity among similar customers."""
    views = np.digitize(frame["category_views_last_90d"].fillna(0).to_numpy(float), [1, 2, 4])
    recency = np.digitize(frame["category_view_recency_days"].fillna(91).to_numpy(float), [8, 31])
    return (
        similar_customer_cells(frame, edges)
        + " | views "
        + pd.Series(views, frame.index).astype(str)
        + " | recency "
        + pd.Series(recency, frame.index).astype(str)
    )


def recent_family_cells(frame: pd.DataFrame, edges: dict[str, np.ndarray]) -> pd.Series:
    """The rule-based upsell: offer the next tier of the family bought most recently, to the
    people who bought most recently; its score is the upgrade rate per recency quintile."""
    return _quintile(frame["recency_days"], edges["recency_days"]).astype(str)


@dataclass
class CellBaseline:
    """A statistic of the label per cell, learned on training rows; unseen cells get the
    overall value. Rates are shrunk towards the overall rate by `prior_rows` pseudo-rows."""

    rule: CellRule
    statistic: str = "mean"  # or "quantile"
    quantile: float = 0.9
    prior_rows: float = 20.0

    def fit(self, train: pd.DataFrame, label: str) -> CellBaseline:
        self.edges = rfm_edges(train)
        y = train[label].astype(float)
        groups = y.groupby(self.rule(train, self.edges))
        if self.statistic == "quantile":
            self.overall = float(y.quantile(self.quantile))
            self.values = groups.quantile(self.quantile)
        else:
            self.overall = float(y.mean())
            self.values = (groups.sum() + self.prior_rows * self.overall) / (
                groups.size() + self.prior_rows
            )
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        cells = self.rule(frame, self.edges)
        return cells.map(self.values).fillna(self.overall).to_numpy(dtype=float)


def last_period_spend(frame: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """Next period will look like the last: the past year's spend, scaled to the horizon."""
    return frame["revenue_last_365d_usd"].to_numpy(dtype=float) * horizon_days / 365.0


def segment_median_gap(train: pd.DataFrame, frame: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """The headroom a segment view gives: the median last-period spend of the person's RFM
    cell minus their own (people below their peers "could" spend more)."""
    spend = pd.Series(last_period_spend(frame, horizon_days), frame.index)
    cells = rfm_cells(frame, rfm_edges(train))
    return (spend.groupby(cells).transform("median") - spend).to_numpy(dtype=float)


def purchase_rhythm(frame: pd.DataFrame) -> np.ndarray:
    """Days to the next order if the person keeps their average gap between orders."""
    gap = frame["average_days_between_orders"].to_numpy(dtype=float)
    return np.maximum(gap - frame["recency_days"].to_numpy(dtype=float), 1.0)


@dataclass
class RfmCellHazard:
    """A constant hazard of ordering again per RFM cell, fitted on censored times by maximum
    likelihood (orders seen / days at risk, people still waiting counted up to the end of what
    could be seen). The predicted days to the next order is the median, ln 2 / hazard. Unlike
    the purchase rhythm, it learns that people long overdue have mostly lapsed."""

    prior_days: float = 365.0  # shrinks sparse cells towards the overall hazard

    def fit(self, train: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> RfmCellHazard:
        self.edges = rfm_edges(train)
        cells = rfm_cells(train, self.edges)
        at_risk = pd.Series(np.asarray(time, dtype=float), train.index).groupby(cells).sum()
        events = pd.Series(np.asarray(event, dtype=float), train.index).groupby(cells).sum()
        self.overall = float(np.sum(event) / max(np.sum(time), 1e-9))
        self.hazard = (events + self.prior_days * self.overall) / (at_risk + self.prior_days)
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        hazard = rfm_cells(frame, self.edges).map(self.hazard).fillna(self.overall)
        return np.log(2) / np.maximum(hazard.to_numpy(dtype=float), 1e-9)


def btyd_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """BG/NBD's inputs from the snapshot features, in weeks, as in Fader, Hardie & Lee (2005):
    purchase days, repeat purchases, and T measured to the last day before the cutoff."""
    buyers = frame[frame["purchase_days"] > 0]
    first_ago = buyers["first_order_days_ago"].to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "customer_id": np.arange(len(buyers)),
            "frequency": buyers["purchase_days"].to_numpy(dtype=float) - 1,
            "recency": (first_ago - buyers["recency_days"].to_numpy(dtype=float)) / 7.0,
            "T": (first_ago - 1) / 7.0,
            # Gamma-Gamma's spend per purchase day (the first purchase included)
            "monetary_value": buyers["revenue_usd"].to_numpy(dtype=float)
            / buyers["purchase_days"].to_numpy(dtype=float),
        },
        index=buyers.index,
    )


def _log_hyp2f1(a: np.ndarray, b: np.ndarray, z: np.ndarray) -> np.ndarray:
    """log 2F1(a, b; a + 1; z), the only form the Pareto/NBD needs, by Euler's transformation:
    (1 - z)^(1 - b) 2F1(1, a + 1 - b; a + 1; z), a series that stays finite where the plain
    one overflows (a long history, so large a and b, with z near 1)."""
    return (1 - b) * np.log1p(-z) + np.log(hyp2f1(1.0, a + 1 - b, a + 1, z))


@dataclass
class ParetoNbd:
    """The Pareto/NBD model of repeat buying (Schmittlein, Morrison & Colombo 1987): purchases
    at a Poisson rate, a lifetime ending at an exponential time, both rates gamma-distributed
    across people. Expressions from Fader & Hardie's notes (the likelihood and P(alive) of
    2005, the conditional probability of no purchase of 2014), as pymc-marketing's
    ParetoNBDModel implements them; maximum likelihood by scipy on the distinct histories,
    because pymc-marketing's MAP fit runs its hypergeometric series through pytensor and took
    over 11 minutes on Complete Journey's households. Times are in weeks."""

    r: float = 1.0
    alpha: float = 1.0
    s: float = 1.0
    beta: float = 1.0

    @property
    def parameters(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "s": self.s, "beta": self.beta}

    def fit(self, summary: pd.DataFrame) -> ParetoNbd:
        histories = summary.groupby(["frequency", "recency", "T"]).size().reset_index()
        x, t_x, age = (histories[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
        weight = histories[0].to_numpy(dtype=float)

        def loss(log_params: np.ndarray) -> float:
            with np.errstate(invalid="ignore", over="ignore"):  # far corners: judged infinite
                value = -(weight * self._log_likelihood(np.exp(log_params), x, t_x, age)).sum()
            return float(value) if np.isfinite(value) else 1e300

        start = np.log([1.0, max(float(np.mean(age)), 1.0), 1.0, max(float(np.mean(age)), 1.0)])
        best = minimize(loss, start, method="L-BFGS-B")
        self.r, self.alpha, self.s, self.beta = (float(v) for v in np.exp(best.x))
        return self

    @staticmethod
    def _log_likelihood(params, x, t_x, age) -> np.ndarray:
        """Alive at T and silent since t_x, or gone somewhere in between (the A0 term)."""
        r, alpha, s, beta = params
        scale = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        return np.logaddexp(
            ParetoNbd._log_alive_mass(params, x, age),
            scale + np.log(s) - np.log(r + s + x) + ParetoNbd._log_a0(params, x, t_x, age),
        )

    @staticmethod
    def _log_hyp_term(params, x, at) -> np.ndarray:
        """log[2F1(r+s+x, b; r+s+x+1; |alpha - beta| / (max + at)) / (max + at)^(r+s+x)]."""
        r, alpha, s, beta = params
        high, low = max(alpha, beta), min(alpha, beta)
        b = r + x if alpha < beta else s + 1.0
        return _log_hyp2f1(r + s + x, b, (high - low) / (high + at)) - (r + s + x) * np.log(
            high + at
        )

    @staticmethod
    def _log_a0(params, x, t_x, age) -> np.ndarray:
        first, second = (
            ParetoNbd._log_hyp_term(params, x, t_x),
            ParetoNbd._log_hyp_term(params, x, age),
        )
        with np.errstate(divide="ignore"):  # t_x = T: A0 is 0, its log -inf, as it should be
            return first + np.log1p(-np.exp(np.minimum(second - first, 0.0)))

    def _inputs(self, data: pd.DataFrame):
        return (
            (self.r, self.alpha, self.s, self.beta),
            *(data[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")),
        )

    @staticmethod
    def _log_alive_mass(params, x, age, extra=0.0) -> np.ndarray:
        """log of the likelihood's part in which the person is still alive at T + extra."""
        r, alpha, s, beta = params
        return (
            gammaln(r + x)
            - gammaln(r)
            + r * np.log(alpha)
            + s * np.log(beta)
            - (r + x) * np.log(alpha + age + extra)
            - s * np.log(beta + age + extra)
        )

    def expected_probability_alive(self, data: pd.DataFrame) -> np.ndarray:
        params, x, t_x, age = self._inputs(data)
        return np.exp(
            self._log_alive_mass(params, x, age) - self._log_likelihood(params, x, t_x, age)
        )

    def expected_purchases(self, data: pd.DataFrame, future_t: float) -> np.ndarray:
        params, x, t_x, age = self._inputs(data)
        r, alpha, s, beta = params
        rest = (beta + age) / (beta + age + future_t)
        # (1 - rest^(s-1)) / (s-1), whose limit at s = 1 is -log(rest)
        window = -np.log(rest) if abs(s - 1) < 1e-9 else (1 - rest ** (s - 1)) / (s - 1)
        alive = self.expected_probability_alive(data)
        return alive * (r + x) * (beta + age) / (alpha + age) * window

    def expected_probability_no_purchase(self, t: float, data: pd.DataFrame) -> np.ndarray:
        """P(no purchase in the next t weeks): dead already, alive and still silent at the end,
        or dead within the window before buying (Fader & Hardie 2014, n = 0)."""
        params, x, t_x, age = self._inputs(data)
        r, alpha, s, beta = params
        log_l = self._log_likelihood(params, x, t_x, age)
        shared = (
            r * np.log(alpha)
            + s * np.log(beta)
            + gammaln(r + s + x)
            + betaln(r + x, s + 1)
            - gammaln(r)
            - gammaln(s)
        )
        alive = np.exp(self._log_alive_mass(params, x, age) - log_l)
        silent = np.exp(self._log_alive_mass(params, x, age, t) - log_l)
        dying = np.exp(shared + self._log_hyp_term(params, x, age) - log_l) - np.exp(
            shared + self._log_hyp_term(params, x, age + t) - log_l
        )
        return 1 - alive + silent + dying


MAX_FITS_KEPT = 32
Fitted = TypeVar("Fitted")
_FITTED: dict[tuple[str, str], object] = {}  # (histories' hash, model) -> fitted model
PROCESSES = ("bgnbd", "pareto_nbd")


def _cached(key: tuple[str, str], fit: Callable[[], Fitted]) -> Fitted:
    """The same histories again (a cutoff judged for another model, or retrained in this
    process) reuse the fit: a fit takes seconds, the lookup nothing."""
    if key not in _FITTED:
        _FITTED[key] = fit()
        while len(_FITTED) > MAX_FITS_KEPT:
            _FITTED.pop(next(iter(_FITTED)))
    return cast(Fitted, _FITTED[key])


class RepeatBuying:
    """A "buy till you die" model of repeat purchases, BG/NBD (Fader, Hardie & Lee 2005) or
    Pareto/NBD (`ParetoNbd`), with Gamma-Gamma spend per purchase day.

    Expected revenue = expected purchase days in the horizon x expected spend per day; the
    purchase probability is 1 - P(no purchase day in the horizon). Fitted on the features at a
    cutoff (only the past; no labels) by maximum likelihood, as the literature reports them:
    BG/NBD and Gamma-Gamma by pymc-marketing's MAP with flat priors (its default priors pull
    the CDNOW estimates well away from the published ones). Neither process says anything about
    people who never bought: the purchase probability gives them the rate of their kind in the
    training rows.
    """

    BGNBD = ("r", "alpha", "a", "b")
    GAMMA_GAMMA = ("p", "q", "v")

    def __init__(self, process: str = "bgnbd"):
        if process not in PROCESSES:
            raise ValueError(f"unknown repeat-buying process {process!r}")
        self.process = process

    def fit(self, frame: pd.DataFrame) -> RepeatBuying:
        summary = btyd_summary(frame)
        key = hashlib.sha256(summary.to_numpy().tobytes()).hexdigest()
        self.purchases = _cached((key, self.process), lambda: self._fit_purchases(summary))
        self.gamma_gamma = _cached((key, "gamma_gamma"), lambda: self._fit_spend(summary))
        return self

    def _fit_purchases(self, summary: pd.DataFrame):
        if self.process == "pareto_nbd":
            return ParetoNbd().fit(summary)
        from pymc_extras.prior import Prior
        from pymc_marketing import clv

        logging.getLogger("pymc").setLevel(logging.ERROR)
        flat = {name: Prior("HalfFlat") for name in self.BGNBD}
        model = clv.BetaGeoModel(
            data=summary[["customer_id", "frequency", "recency", "T"]], model_config=flat
        )
        model.fit(method="map", progressbar=False)
        return model

    @staticmethod
    def _fit_spend(summary: pd.DataFrame):
        from pymc_marketing import clv

        logging.getLogger("pymc").setLevel(logging.ERROR)
        repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
        model = clv.GammaGammaModel(
            data=repeat[["customer_id", "frequency", "monetary_value"]].reset_index(drop=True)
        )
        model.fit(method="map", progressbar=False)
        return model

    @property
    def parameters(self) -> dict[str, float]:
        if isinstance(self.purchases, ParetoNbd):
            purchases = self.purchases.parameters
        else:
            found = self.purchases.fit_summary()
            purchases = {k: float(found[k]) for k in self.BGNBD}
        found = self.gamma_gamma.fit_summary()
        return purchases | {k: float(found[k]) for k in self.GAMMA_GAMMA}

    def features(self, frame: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
        """Expected purchase days in the horizon, P(alive), P(at least one purchase day in the
        horizon), expected spend per purchase day and expected revenue; zero for people who
        never bought."""
        summary = btyd_summary(frame)
        out = pd.DataFrame(0.0, index=frame.index, columns=BTYD_FEATURES)
        if summary.empty:
            return out
        weeks = horizon_days / 7.0
        purchases = _point(self.purchases.expected_purchases(data=summary, future_t=weeks))
        alive = _point(self.purchases.expected_probability_alive(data=summary))
        none = self.purchases.expected_probability_no_purchase(t=weeks, data=summary)
        spend = _point(
            self.gamma_gamma.expected_customer_spend(
                data=summary[["customer_id", "frequency", "monetary_value"]].assign(
                    monetary_value=summary["monetary_value"].clip(lower=0.01)
                )
            )
        )
        out.loc[summary.index, BTYD_FEATURES] = np.column_stack(
            [purchases, alive, 1 - _point(none), spend, purchases * spend]
        )
        return out

    def predict(self, frame: pd.DataFrame, horizon_days: int) -> np.ndarray:
        return self.features(frame, horizon_days)["btyd_expected_revenue_usd"].to_numpy()

    def purchase_probability(
        self, frame: pd.DataFrame, horizon_days: int, never_bought_rate: float
    ) -> np.ndarray:
        probability = self.features(frame, horizon_days)["btyd_purchase_probability"]
        never = (frame["purchase_days"] <= 0).to_numpy()
        return np.where(never, never_bought_rate, probability.to_numpy(dtype=float))


BTYD_FEATURES = [
    "btyd_expected_purchase_days",
    "btyd_probability_alive",
    "btyd_purchase_probability",
    "btyd_expected_spend_per_day_usd",
    "btyd_expected_revenue_usd",
]


def _point(values) -> np.ndarray:
    """A MAP fit has one draw: squeeze pymc-marketing's (chain, draw, customer) array."""
    array = np.asarray(values)
    return array.reshape(-1, array.shape[-1]).mean(axis=0)


@dataclass(frozen=True)
class BaselineInputs:
    """What every baseline is given: the model's spec, the rows it may learn from (the training
    and validation cutoffs), the test rows it predicts, the horizon, and how far labels can be
    seen (censoring)."""

    spec: ModelSpec
    train: pd.DataFrame
    test: pd.DataFrame
    horizon_days: int
    window_end: date


Baseline = Callable[[BaselineInputs], np.ndarray]


def _cell_rate(rule: CellRule) -> Baseline:
    """The training rate of the label in the test row's cell."""
    return lambda d: CellBaseline(rule).fit(d.train, d.spec.label).predict(d.test)


def _cell_quantile(d: BaselineInputs) -> np.ndarray:
    baseline = CellBaseline(rfm_cells, statistic="quantile", quantile=d.spec.quantile)
    return baseline.fit(d.train, d.spec.label).predict(d.test)


def _repeat_buying(process: str, output: str) -> Baseline:
    """BG/NBD or Pareto/NBD, fitted on the test cutoff's own history: it needs no labels, only
    the past. People who never bought get the training rate of people who never bought."""

    def predict(d: BaselineInputs) -> np.ndarray:
        model = RepeatBuying(process).fit(d.test)
        if output == "revenue":
            return model.predict(d.test, d.horizon_days)
        never = d.train[d.train["purchase_days"] <= 0][d.spec.label]
        rate = float(never.mean()) if len(never) else float(d.train[d.spec.label].mean())
        return model.purchase_probability(d.test, d.horizon_days, rate)

    return predict


def _cell_hazard(d: BaselineInputs) -> np.ndarray:
    days, upper = survival_bounds(d.train, d.spec, d.window_end)
    return RfmCellHazard().fit(d.train, days, np.isfinite(upper)).predict(d.test)


# Every baseline a spec may name (ml.specs.ModelSpec.baselines), by name.
BASELINES: dict[str, Baseline] = {
    "rfm": _cell_rate(rfm_cells),
    "similar_customers_popularity": _cell_rate(similar_customer_cells),
    "personal_category_interest": _cell_rate(personal_interest_cells),
    "recent_family_next_tier": _cell_rate(recent_family_cells),
    "rfm_cell_quantile": _cell_quantile,
    "last_period_spend": lambda d: last_period_spend(d.test, d.horizon_days),
    "bgnbd": _repeat_buying("bgnbd", "purchase"),
    "bgnbd_gamma_gamma": _repeat_buying("bgnbd", "revenue"),
    "pareto_nbd": _repeat_buying("pareto_nbd", "purchase"),
    "pareto_nbd_gamma_gamma": _repeat_buying("pareto_nbd", "revenue"),
    "purchase_rhythm": lambda d: purchase_rhythm(d.test),
    "rfm_cell_hazard": _cell_hazard,
}
