"""Sample landing files for every raw contract, with a known truth behind them.

`world` simulates the shop (people with latent traits, their orders, sessions and campaign
responses, the dirt planted at documented rates); each source's module (`shop`, `crm`, `web`,
`campaigns`) shapes its landing files from that simulation, and `SOURCE_FILES` lists them all,
one per raw contract (tests/unit/nextsale_lab/test_generate.py checks that it covers nextsale.contracts). A new
source is its contract, its module here with its files, and what `world` must simulate for it.
Output is deterministic for (customers, seed, end date).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from nextsale.provenance import mark_generated
from nextsale_lab.generate import campaigns, crm, shop, truth, web
from nextsale_lab.generate.files import SourceFile, write
from nextsale_lab.generate.world import (
    BAD_TIMESTAMPS,
    CHUNK_SIZE,
    COUNTRIES,
    DIRT_CODES,
    DIRTY_RATES,
    EVENT_NAMES,
    HISTORY_DAYS,
    INDUSTRIES,
    JUNK_CONTACT_RATE,
    MACROS,
    SHARED_COOKIE,
    TEST_ORDER_RATE,
    Chunk,
    catalogue,
    company_name,
    load_rates,
    offer_effect,
    plant_dirt,
)

__all__ = [
    "DIRTY_RATES",
    "SHARED_COOKIE",
    "GenerationSummary",
    "already_generated",
    "generate",
    "offer_effect",
]

SOURCE_FILES: tuple[SourceFile, ...] = (*shop.FILES, *crm.FILES, *web.FILES, *campaigns.FILES)
LANDING_FOLDERS = tuple(dict.fromkeys(f.folder.split("/")[0] for f in SOURCE_FILES))


@dataclass(frozen=True)
class GenerationSummary:
    out_dir: Path
    customers: int
    seed: int
    end_date: date
    rows: dict[str, int]
    dirty_rows: dict[str, dict[str, int]]
    seconds: float


def _identity(customers: int, seed: int, end_date: date) -> dict:
    """What the output is a function of: the parameters and this package's code."""
    code = hashlib.sha256()
    for module in sorted(Path(__file__).parent.glob("*.py")):
        code.update(module.read_bytes())
    return {
        "customers": customers,
        "seed": seed,
        "end_date": end_date.isoformat(),
        "generator_sha256": code.hexdigest(),
    }


def _landing_files(out_dir: Path) -> dict[str, int]:
    """Every landing file written, with its size."""
    return {
        path.relative_to(out_dir).as_posix(): path.stat().st_size
        for folder in LANDING_FOLDERS
        for path in sorted((out_dir / folder).rglob("*"))
        if path.is_file()
    }


def already_generated(
    out_dir: Path, customers: int, seed: int, end_date: date | None = None
) -> GenerationSummary | None:
    """The summary of the landing data in `out_dir` when it is exactly what `generate` would
    write again (same parameters, same generator, every file there at its size), else None:
    writing it again would only make ingestion and dbt redo their work."""
    end_date = end_date or datetime.now(UTC).date()
    summary_path = Path(out_dir) / "_ground_truth" / "summary.json"
    try:
        written = json.loads(summary_path.read_text())
    except (OSError, ValueError):
        return None
    if any(written.get(k) != v for k, v in _identity(customers, seed, end_date).items()):
        return None
    if written.get("files") != _landing_files(Path(out_dir)):
        return None
    return GenerationSummary(
        Path(out_dir), customers, seed, end_date, written["rows"], written["dirty_rows"], 0.0
    )


def generate(
    out_dir: Path,
    customers: int = 10_000,
    seed: int = 42,
    end_date: date | None = None,
    progress: Callable[[int], None] | None = None,
) -> GenerationSummary:
    """Write sample landing files for `customers` people under `out_dir` (replacing it)."""
    started = datetime.now(UTC)
    end_date = end_date or datetime.now(UTC).date()
    out_dir = Path(out_dir)
    for folder in (*LANDING_FOLDERS, "_ground_truth"):
        shutil.rmtree(out_dir / folder, ignore_errors=True)
    end_day = float((end_date - date(1970, 1, 1)).days)
    start_day = end_day - HISTORY_DAYS
    usd_per_unit = load_rates()
    products = catalogue()
    n_companies = max(1, int(customers * 0.15 / 4))
    rows: dict[str, int] = {}
    dirty: dict[str, dict[str, int]] = {t: dict.fromkeys(r, 0) for t, r in DIRTY_RATES.items()}

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute("set enable_progress_bar = false")  # a batch job: it would flood the log
    con.execute(MACROS)
    for name, value in (
        ("shared_cookie", SHARED_COOKIE),
        ("event_names", list(EVENT_NAMES)),
        ("bad_timestamps", list(BAD_TIMESTAMPS)),
    ):
        con.execute(f"set variable {name} = {value!r}")
    con.register("products", products)
    con.register(
        "countries", pd.DataFrame(COUNTRIES, columns=["country", "currency", "offset_h", "share"])
    )
    con.register(
        "dirt_kinds", pd.DataFrame({"dirt": list(DIRT_CODES.values()), "kind": list(DIRT_CODES)})
    )

    def count(table: str, n: int) -> None:
        rows[table] = rows.get(table, 0) + n

    companies = pd.DataFrame({"company_idx": np.arange(n_companies)})
    companies["name"] = companies["company_idx"].map(company_name)
    crng = np.random.default_rng([seed, 1_000_000])
    companies["industry"] = crng.choice(INDUSTRIES, n_companies)
    companies["employees"] = np.round(crng.lognormal(3.5, 1.2, n_companies)).astype(int) + 1
    companies["country"] = crng.choice(
        [c[0] for c in COUNTRIES], n_companies, p=[c[3] for c in COUNTRIES]
    )
    con.register("companies", companies)
    for file in SOURCE_FILES:
        if file.once:
            count(file.table, write(con, file, file.path(out_dir, "")))

    for chunk, first_pid in enumerate(range(0, customers, CHUNK_SIZE)):
        rng = np.random.default_rng([seed, chunk])
        n = min(CHUNK_SIZE, customers - first_pid)
        sim = Chunk(rng, first_pid, n, start_day, end_day, n_companies, products)
        orders = sim.orders()
        sends, orders = sim.campaigns(np.random.default_rng([seed, chunk, 1]), orders)
        lines = sim.lines(orders)
        sim.price_orders(orders, lines, usd_per_unit)
        sim.crm_fields(orders)
        sessions, events = sim.sessions(orders, lines)
        people = sim.people
        orders["order_row"] = np.arange(len(orders))
        orders["pid"] = orders["person"] + first_pid
        sessions["session_row"] = np.arange(len(sessions))
        sessions["pid"] = np.where(sessions["person"] >= 0, sessions["person"] + first_pid, -1)
        events["event_row"] = np.arange(len(events))
        sends["pid"] = sends["person"] + first_pid
        orders["dirt"] = plant_dirt(rng, len(orders), "shop_orders")
        lines["dirt"] = plant_dirt(rng, len(lines), "shop_order_lines")
        events["dirt"] = plant_dirt(rng, len(events), "web_events")
        people["dirt"] = plant_dirt(rng, n, "crm_contacts")
        n_tests = rng.binomial(len(orders), TEST_ORDER_RATE)
        tests = pd.DataFrame(
            {"test_no": np.arange(n_tests), "day": end_day - rng.uniform(0, 365, n_tests)}
        )
        n_junk = rng.binomial(n, JUNK_CONTACT_RATE)
        junk = pd.DataFrame(
            {"junk_no": np.arange(n_junk), "day": end_day - rng.uniform(0, 365, n_junk)}
        )
        frames = {
            "people": people,
            "orders": orders,
            "lines": lines,
            "sessions": sessions,
            "events": events,
            "test_orders": tests,
            "junk": junk,
            "sends": sends,
        }
        for name, frame in frames.items():
            con.register(name, frame)
        con.execute(f"set variable seed = {seed}; set variable chunk = {chunk}")

        part = f"part-{chunk:05d}"
        for file in SOURCE_FILES:
            if not file.once:
                count(file.table, write(con, file, file.path(out_dir, part)))

        truth_dir = out_dir / "_ground_truth"
        for name, sql in truth.TABLES:
            (truth_dir / name).mkdir(parents=True, exist_ok=True)
            con.execute(f"copy ({sql}) to '{truth_dir / name / part}.parquet' (FORMAT PARQUET)")
        for table, kind, k in con.execute(
            f"select source_table, kind, count(*) from ({truth.DIRTY_TRUTH_SQL}) group by all"
        ).fetchall():
            dirty.setdefault(table, {}).setdefault(kind, 0)
            dirty[table][kind] += k
        if progress:
            progress(n)

    con.close()
    mark_generated(out_dir, customers=customers, seed=seed, end_date=end_date)
    summary = GenerationSummary(
        out_dir=out_dir,
        customers=customers,
        seed=seed,
        end_date=end_date,
        rows=rows,
        dirty_rows=dirty,
        seconds=(datetime.now(UTC) - started).total_seconds(),
    )
    (out_dir / "_ground_truth" / "summary.json").write_text(
        json.dumps(
            {
                **_identity(customers, seed, end_date),
                "files": _landing_files(out_dir),
                "rows": rows,
                "dirty_rows": dirty,
                "dirty_rates": DIRTY_RATES,
            },
            indent=2,
        )
    )
    return summary
