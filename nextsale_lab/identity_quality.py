"""How well the identity graph recovers people, measured against the generator's ground truth.

Pairwise "same person" precision and recall over the identifiers seen in the data:
a pair of identifiers is predicted together when they share a customer_key, and truly together
when the generator made them for the same person. Recall is given twice: over every identifier
seen, and over the pairs the data can link at all (a cookie on which nobody ever logged in or
filled a form is, rightly, unlinkable by any deterministic method).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


@dataclass(frozen=True)
class IdentityQuality:
    identifiers: int
    precision: float
    recall: float
    linkable_recall: float
    largest_component: int
    shared_identifiers_kept: int  # identifiers the truth says are shared, yet kept in a component


def _pairs(sizes: pd.Series) -> float:
    n = sizes.to_numpy(dtype=float)
    return float((n * (n - 1) / 2).sum())


def _linkable_groups(nodes: pd.DataFrame, links: pd.DataFrame) -> np.ndarray:
    """Components of the observed links that join two identifiers of the same true person."""
    index = pd.Series(np.arange(len(nodes)), index=nodes["node_id"])
    pid = nodes.set_index("node_id")["pid"]
    links = links[links["node_id"].isin(index.index) & links["linked_node_id"].isin(index.index)]
    same = (
        pid.reindex(links["node_id"]).to_numpy() == pid.reindex(links["linked_node_id"]).to_numpy()
    )
    a = index.reindex(links["node_id"]).to_numpy()[same]
    b = index.reindex(links["linked_node_id"]).to_numpy()[same]
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(nodes), len(nodes)))
    return connected_components(graph, directed=False)[1]


def measure_identity(duckdb_path: Path, truth_dir: Path) -> IdentityQuality:
    truth = pd.read_parquet(truth_dir / "identifiers")
    truth["node_id"] = truth["kind"] + ":" + truth["value"]
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        seen = con.execute("select node_id from intermediate.int_identity__identifiers").df()
        keys = con.execute(
            "select node_id, customer_key, component_size from intermediate.int_identity__customer_keys"
        ).df()
        links = con.execute(
            "select node_id, linked_node_id from intermediate.int_identity__links"
        ).df()
    scored = truth[~truth["shared"] & truth["node_id"].isin(seen["node_id"])].copy()
    scored = scored.merge(keys[["node_id", "customer_key"]], on="node_id", how="left")
    # an identifier without a key stands alone
    scored["customer_key"] = scored["customer_key"].fillna("alone:" + scored["node_id"])
    together = _pairs(scored.groupby(["customer_key", "pid"]).size())
    predicted = _pairs(scored.groupby("customer_key").size())
    actual = _pairs(scored.groupby("pid").size())
    scored["linkable"] = _linkable_groups(scored[["node_id", "pid"]], links)
    linkable_together = _pairs(scored.groupby(["customer_key", "linkable"]).size())
    linkable = _pairs(scored.groupby("linkable").size())
    shared_kept = truth["shared"] & truth["node_id"].isin(keys["node_id"])
    return IdentityQuality(
        identifiers=len(scored),
        precision=together / predicted if predicted else 1.0,
        recall=together / actual if actual else 1.0,
        linkable_recall=linkable_together / linkable if linkable else 1.0,
        largest_component=int(keys["component_size"].max()) if len(keys) else 0,
        shared_identifiers_kept=int(shared_kept.sum()),
    )
