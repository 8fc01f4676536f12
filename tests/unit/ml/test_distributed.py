"""Training past one machine: the same model fitted on a local Dask cluster (two worker
processes) through xgboost.dask, judged on the same test cutoff as the single-machine fit."""

from __future__ import annotations

import dask.dataframe as dd
import numpy as np
import pytest
from distributed import Client, LocalCluster

from ml.data import read_calendar, read_snapshot, time_split
from ml.distributed import fit_on_dask
from ml.specs import SPECS
from ml.train import fit, score_predictions


@pytest.fixture(scope="module")
def dask_client():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.mark.parametrize(
    ("model", "metric"), [("purchase_propensity", "roc_auc"), ("days_to_next_order", "c_index")]
)
def test_a_dask_cluster_trains_the_model_one_machine_would(
    dask_client, first_run, pipeline_settings, model, metric
):
    assert first_run.success
    spec = SPECS[model]
    database = pipeline_settings.duckdb_path
    calendar = read_calendar(database)
    split = time_split(read_snapshot(database, "customer", "training"), spec, calendar)
    local = fit(split, spec)
    distributed = fit_on_dask(
        dask_client,
        dd.from_pandas(split.train, npartitions=2),
        dd.from_pandas(split.validation, npartitions=2),
        spec,
        split.test_cutoff,
    )
    assert distributed.features == local.features
    assert distributed.categories == local.categories
    # judged on the test cutoff as on one machine: a real model, and as good within noise
    on_dask = score_predictions(spec, split.test, distributed.predict(split.test), calendar.as_of)[
        metric
    ]
    on_one = score_predictions(spec, split.test, local.predict(split.test), calendar.as_of)[metric]
    assert on_dask > 0.6
    assert abs(on_dask - on_one) < 0.05
    # the two boosters rank the test people alike (not identically: each worker draws its own
    # row subsamples, and on a few hundred people that alone moves ranks)
    ranks = np.corrcoef(
        np.argsort(np.argsort(distributed.predict(split.test))),
        np.argsort(np.argsort(local.predict(split.test))),
    )[0, 1]
    assert ranks > 0.75
