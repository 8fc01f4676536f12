"""Map the real public data sets (shared/data, see its README) onto the raw landing contracts.

The importers reshape and rename; they do not clean. CRM contacts made from buyers are dated at
their first purchase: dating them at their last one would tell the models who never buys again. Real quirks (negative quantities, zero
prices, bad-debt adjustments, duplicated lines...) are written as they are, so that the same
ingestion quarantines them with a reason and the same dbt build runs on the rest. Sources a
data set does not have are written as header-only files, so every contract has its files.

* **online-retail** (UCI Online Retail, UK gift wholesaler, 2010-12..2011-12): one order per
  invoice; `C` invoices become refunded orders (quantities made positive: the status says it
  was money back); rows without a CustomerID become guest orders; CustomerIDs written like
  `17850.0` become `17850`; postage codes (POST, DOT, C2) become the order's shipping and `D`
  its discount; other non-product codes (M, BANK CHARGES, AMAZONFEE, CRUK, S, PADS, B, gift
  vouchers, DCGS...) stay lines of inactive "Fees and services" products, so nothing is offered
  from them. Times are UK wall-clock, converted to UTC. The source has no line id: a line's id is
  a hash of its content, so the 5,268 exact duplicate lines reach the quarantine as duplicates.
  Product categories are derived from descriptions by keyword rules (``RETAIL_CATEGORIES``, first
  match wins); the source has no families or tiers. Each customer becomes a CRM contact with
  its country.
* **cdnow** (CDNOW 1997-98 cohort): one order per purchase row, one line of a single "CD"
  product (quantity = number of CDs). No web, CRM or product data in the source.
* **completejourney** (84.51 / dunnhumby, grocery, 2017): one order per basket, customer =
  household; department is the category, commodity (product_category) the family, and the
  brand the tier (Private label = 1, National = 2); unit price = (paid + discounts) / quantity.
  Households with demographics become CRM contacts, the demographics kept as extra columns.
  Times are America/New_York wall-clock, converted to UTC. The campaign tables wait for the
  closing-the-loop work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from nextsale.config import REPO_ROOT
from nextsale.contracts import CONTRACTS

# the project's shared copies where this checkout has them, else `nextsale datasets fetch`'s
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_SOURCE = SHARED_DATA if SHARED_DATA.is_dir() else Path("data/datasets")

POSTAGE_CODES = ("POST", "DOT", "C2")
DISCOUNT_CODES = ("D",)
# (category, description keywords as a regular expression); the first match wins
RETAIL_CATEGORIES = (
    ("Christmas", r"CHRISTMAS|XMAS|ADVENT|SANTA|REINDEER|SNOWFLAKE"),
    ("Candles and lights", r"CANDLE|T-LIGHT|TEA LIGHT|LANTERN|LIGHTS|LAMP|NIGHT LIGHT"),
    ("Bags", r"\bBAG|\bBAGS\b|LUNCH BOX|TOTE|PURSE"),
    (
        "Kitchen and tableware",
        r"MUG|CUP|TEA|PLATE|BOWL|JAR|SPOON|CAKE|BAKING|KITCHEN|NAPKIN|BOTTLE|TRAY|TIN",
    ),
    ("Cards and wrapping", r"CARD|WRAP|PAPER|RIBBON|\bTAG|ENVELOPE|STICKER|NOTEBOOK|PEN\b|PENCIL"),
    (
        "Toys and kids",
        r"TOY|GAME|DOLL|PLAYHOUSE|SPACEBOY|CHILDREN|CHILDS|KIDS|DINOSAUR|PUZZLE|SKITTLES",
    ),
    ("Jewellery and accessories", r"NECKLACE|BRACELET|EARRING|JEWEL|RING\b|HAIR|UMBRELLA|GLOVES"),
    ("Garden and outdoor", r"GARDEN|PLANT|FLOWER POT|WATERING|BIRD|PICNIC"),
    (
        "Home decor",
        r"HEART|SIGN|FRAME|CLOCK|MIRROR|CUSHION|DOORMAT|HOOK|DECORATION|ORNAMENT|VINTAGE|WALL",
    ),
)


@dataclass(frozen=True)
class ImportSummary:
    dataset: str
    out_dir: Path
    rows: dict[str, int]


def _write(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"copy ({sql}) to '{path}' (FORMAT CSV, HEADER)")
    return con.execute(f"select count(*) from read_csv('{path}', header = true)").fetchall()[0][0]


def _write_missing_sources(out_dir: Path, rows: dict[str, int]) -> None:
    """Header-only files for contracts the data set has no data for."""
    for contract in CONTRACTS:
        if contract.table in rows:
            continue
        path = out_dir / contract.folder / "none.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(",".join(contract.column_names) + "\n")
        rows[contract.table] = 0


def _utc(column: str, zone: str) -> str:
    """SQL: a wall-clock timestamp text in `zone` as an ISO-8601 UTC string."""
    return (
        f"strftime(timezone('UTC', timezone('{zone}', cast({column} as timestamp))), "
        "'%Y-%m-%dT%H:%M:%SZ')"
    )


def import_online_retail(
    con: duckdb.DuckDBPyConnection, source: Path, out: Path, sample: bool
) -> dict[str, int]:
    # a slice keeps the whole year: every tenth customer (and guest invoice), all their lines
    slice_ = (
        "where coalesce(cast(cast(CustomerID as double) as bigint), hash(InvoiceNo)) % 10 = 0"
        if sample
        else ""
    )
    category = (
        "case "
        + " ".join(
            f"when regexp_matches(upper(description), '{pattern}') then '{name}'"
            for name, pattern in RETAIL_CATEGORIES
        )
        + " else 'Other' end"
    )
    con.execute(
        f"""
        create or replace temp table retail as
        select
            InvoiceNo as invoice,
            upper(trim(StockCode)) as stock_code,
            Description as description,
            cast(Quantity as bigint) as quantity,
            cast(UnitPrice as double) as unit_price,
            InvoiceDate as invoiced_at,
            cast(cast(cast(CustomerID as double) as bigint) as varchar) as customer_id,
            Country as country,
            starts_with(InvoiceNo, 'C') as is_cancellation,
            regexp_full_match(upper(trim(StockCode)), '[0-9]{{5}}[A-Z]*') as is_product,
            row_number() over () as source_row
        from read_csv('{source}/online_retail/online_retail.csv.gz', all_varchar = true)
        {slice_}
        """
    )
    sign = "case when is_cancellation then -1 else 1 end"

    # A product's name, category and price, and a customer's country, are what their first line
    # says (the file is in time order), empty if it says nothing: a later line's would leak into
    # every earlier cutoff.
    def first_seen(column: str) -> str:
        return f"arg_min_null({column}, source_row)"

    rows = {
        "shop_orders": _write(
            con,
            f"""
            select
                invoice as order_id,
                max(customer_id) as customer_id,
                null as email,
                {_utc("min(invoiced_at)", "Europe/London")} as created_at,
                'GBP' as currency,
                round(sum(case when not stock_code in {DISCOUNT_CODES + POSTAGE_CODES}
                               then {sign} * quantity * unit_price else 0 end), 2) as subtotal,
                round(abs(sum(case when stock_code in {DISCOUNT_CODES}
                                   then quantity * unit_price else 0 end)), 2) as discount,
                round(sum(case when stock_code in {POSTAGE_CODES}
                               then {sign} * quantity * unit_price else 0 end), 2) as shipping,
                round(sum(case when stock_code in {DISCOUNT_CODES}
                               then -abs(quantity * unit_price)
                               else {sign} * quantity * unit_price end), 2) as total,
                case when bool_or(is_cancellation) then 'refunded' else 'paid' end as status,
                false as is_test
            from retail
            group by invoice
            order by min(source_row)
            """,
            out / "shop/orders/online_retail.csv",
        ),
        "shop_order_lines": _write(
            con,
            f"""
            select
                invoice as order_id,
                substr(md5(concat_ws('|', stock_code, description, quantity, unit_price, invoiced_at)), 1, 12)
                    as line_id,
                stock_code as product_id,
                {sign} * quantity as quantity,
                unit_price,
                0 as discount
            from retail
            where stock_code not in {DISCOUNT_CODES + POSTAGE_CODES}
            order by source_row
            """,
            out / "shop/order_lines/online_retail.csv",
        ),
        "shop_products": _write(
            con,
            f"""
            select
                stock_code as product_id,
                {first_seen("description")} as name,
                case when bool_and(is_product) then {category.replace("description", first_seen("description"))}
                     else 'Fees and services' end as category,
                null as family,
                null as tier,
                round(nullif({first_seen("unit_price")}, 0), 2) as price,
                null as margin_rate,
                bool_and(is_product) as active
            from retail
            where stock_code not in {DISCOUNT_CODES + POSTAGE_CODES}
            group by stock_code
            order by stock_code
            """,
            out / "shop/products/online_retail.csv",
        ),
        "crm_contacts": _write(
            con,
            f"""
            select
                'retail-' || customer_id as contact_id,
                null as email, null as first_name, null as last_name, null as phone,
                null as company_id, customer_id as shop_customer_id,
                'customer' as lifecycle_stage, null as lead_source,
                {first_seen("country")} as country,
                {_utc("min(invoiced_at)", "Europe/London")} as created_at,
                {_utc("min(invoiced_at)", "Europe/London")} as updated_at,
                null as email_opt_in, null as sms_opt_in, null as do_not_contact
            from retail
            where customer_id is not null
            group by customer_id
            order by customer_id
            """,
            out / "crm/contacts/online_retail.csv",
        ),
    }
    return rows


def import_cdnow(
    con: duckdb.DuckDBPyConnection, source: Path, out: Path, sample: bool
) -> dict[str, int]:
    name = "cdnow_sample" if sample else "cdnow_master"
    con.execute(
        f"""
        create or replace temp table cdnow as
        select
            cast(customer_id as varchar) as customer_id,
            strptime(cast(date as varchar), '%Y%m%d') as bought_at,
            cast(number_of_cds as bigint) as cds,
            cast(dollar_value as double) as dollars,
            row_number() over () as source_row
        from read_csv('{source}/cdnow/{name}.csv.gz')
        """
    )
    return {
        "shop_orders": _write(
            con,
            """
            select 'cdnow-' || source_row as order_id, customer_id, null as email,
                   strftime(bought_at, '%Y-%m-%dT%H:%M:%SZ') as created_at, 'USD' as currency,
                   dollars as subtotal, 0 as discount, 0 as shipping, dollars as total,
                   'paid' as status, false as is_test
            from cdnow order by source_row
            """,
            out / "shop/orders/cdnow.csv",
        ),
        "shop_order_lines": _write(
            con,
            """
            select 'cdnow-' || source_row as order_id, '1' as line_id, 'CD' as product_id,
                   cds as quantity, round(dollars / nullif(cds, 0), 4) as unit_price, 0 as discount
            from cdnow order by source_row
            """,
            out / "shop/order_lines/cdnow.csv",
        ),
        "shop_products": _write(
            con,
            """
            select 'CD' as product_id, 'Compact disc' as name, 'Music' as category,
                   null as family, null as tier, round(sum(dollars) / sum(cds), 2) as price,
                   null as margin_rate, true as active
            from cdnow
            """,
            out / "shop/products/cdnow.csv",
        ),
    }


def import_completejourney(
    con: duckdb.DuckDBPyConnection, source: Path, out: Path, sample: bool
) -> dict[str, int]:
    name = "transactions_sample" if sample else "transactions"
    con.execute(
        f"""
        create or replace temp table baskets as
        select
            household_id, basket_id, product_id,
            cast(quantity as bigint) as quantity,
            cast(sales_value as double) as paid,
            cast(retail_disc as double) + cast(coupon_disc as double)
                + cast(coupon_match_disc as double) as discount,
            replace(cast(transaction_timestamp as varchar), 'T', ' ') as bought_at,
            row_number() over () as source_row
        from read_csv('{source}/completejourney/{name}.csv.gz', all_varchar = true)
        """
    )
    bought = _utc("min(bought_at)", "America/New_York")
    return {
        "shop_orders": _write(
            con,
            f"""
            select basket_id as order_id, max(household_id) as customer_id, null as email,
                   {bought} as created_at, 'USD' as currency,
                   round(sum(paid + discount), 2) as subtotal, round(sum(discount), 2) as discount,
                   0 as shipping, round(sum(paid), 2) as total, 'paid' as status, false as is_test
            from baskets group by basket_id order by min(source_row)
            """,
            out / "shop/orders/completejourney.csv",
        ),
        "shop_order_lines": _write(
            con,
            """
            select basket_id as order_id,
                   cast(row_number() over (partition by basket_id order by source_row) as varchar)
                       as line_id,
                   product_id, quantity,
                   round((paid + discount) / nullif(quantity, 0), 4) as unit_price,
                   round(discount, 2) as discount
            from baskets order by source_row
            """,
            out / "shop/order_lines/completejourney.csv",
        ),
        "shop_products": _write(
            con,
            f"""
            with prices as (
                select product_id, median((paid + discount) / quantity) as price
                from baskets where quantity > 0 group by product_id
            )
            select p.product_id,
                   coalesce(p.product_type, p.product_category, p.department) as name,
                   p.department as category,
                   p.product_category as family,
                   case p.brand when 'Private' then 1 when 'National' then 2 end as tier,
                   round(prices.price, 2) as price, null as margin_rate, true as active
            from read_csv('{source}/completejourney/products.csv.gz', all_varchar = true) p
            left join prices using (product_id)
            order by p.product_id
            """,
            out / "shop/products/completejourney.csv",
        ),
        "crm_contacts": _write(
            con,
            f"""
            with first_seen as (
                select household_id, {bought} as first_at
                from baskets group by household_id
            )
            select 'household-' || d.household_id as contact_id, null as email,
                   null as first_name, null as last_name, null as phone, null as company_id,
                   d.household_id as shop_customer_id, 'customer' as lifecycle_stage,
                   null as lead_source, 'US' as country,
                   coalesce(f.first_at, '2017-01-01T00:00:00Z') as created_at,
                   coalesce(f.first_at, '2017-01-01T00:00:00Z') as updated_at,
                   null as email_opt_in, null as sms_opt_in, null as do_not_contact,
                   d.age, d.income, d.home_ownership, d.marital_status, d.household_size,
                   d.household_comp, d.kids_count
            from read_csv('{source}/completejourney/demographics.csv.gz', all_varchar = true) d
            left join first_seen f using (household_id)
            order by d.household_id
            """,
            out / "crm/contacts/completejourney.csv",
        ),
        # campaigns: who received each of the 27 (the exposure table), on its first day; the
        # coupons were mailed, so the channel is mail and the offer a discount of unknown value.
        # No holdout was kept: nextsale evaluate --dataset completejourney-campaigns compares
        # them with comparable households instead.
        "campaign_sends": _write(
            con,
            f"""
            select c.campaign_id || '-' || c.household_id as send_id, c.campaign_id,
                   null as email, null as contact_id, c.household_id as customer_id,
                   lower(replace(d.campaign_type, ' ', '_')) as audience,
                   'discount' as offer_type, null as offer_value, 'mail' as channel,
                   {_utc("d.start_date || ' 00:00:00'", "America/New_York")} as sent_at,
                   false as is_holdout
            from read_csv('{source}/completejourney/campaigns.csv.gz', all_varchar = true) c
            inner join read_csv('{source}/completejourney/campaign_descriptions.csv.gz',
                                all_varchar = true) d using (campaign_id)
            order by cast(c.campaign_id as integer), c.household_id
            """,
            out / "campaigns/sends/completejourney.csv",
        ),
    }


IMPORTERS: dict[str, Callable[[duckdb.DuckDBPyConnection, Path, Path, bool], dict[str, int]]] = {
    "online-retail": import_online_retail,
    "cdnow": import_cdnow,
    "completejourney": import_completejourney,
}


def import_dataset(
    dataset: str, out_dir: Path, source: Path = DEFAULT_SOURCE, sample: bool = False
) -> ImportSummary:
    """Write the landing files of one real data set; `sample` takes a small slice for tests."""
    if dataset not in IMPORTERS:
        raise ValueError(f"unknown data set {dataset!r}: choose one of {', '.join(IMPORTERS)}")
    if not source.is_dir():
        raise FileNotFoundError(
            f"no data sets at {source}: pass --source DIR, or see README 'Real data sets'"
        )
    for contract in CONTRACTS:
        folder = out_dir / contract.folder
        if folder.is_dir():
            for old in folder.iterdir():
                old.unlink()
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        try:
            rows = IMPORTERS[dataset](con, source, out_dir, sample)
        except duckdb.IOException as error:
            first_line = str(error).splitlines()[0]
            raise FileNotFoundError(
                f"{dataset}: a source file is missing or unreadable under {source} "
                f"({first_line}); see README 'Real data sets'"
            ) from error
    _write_missing_sources(out_dir, rows)
    return ImportSummary(dataset, out_dir, rows)
