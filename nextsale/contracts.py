"""Raw source contracts: the one place that says what each landing table holds.

The generator writes these columns, ingestion validates against them, the sensor watches their
folders and the dbt sources declare the same tables (a test keeps the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from nextsale.identifiers import EMAIL, ID

# The schemas ingestion writes: every kept row in raw, every other row in raw_quarantine.
RAW, QUARANTINE = "raw", "raw_quarantine"

# Types are DuckDB SQL types; ingestion casts the text it reads to them.
TEXT = "VARCHAR"
TIMESTAMP = "TIMESTAMPTZ"
BOOL = "BOOLEAN"
MONEY = "DECIMAL(18,4)"
INT = "BIGINT"
RATE = "DECIMAL(9,6)"

FILE_SUFFIXES = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".parquet")

# Ranges outside which a value cannot be true, so one row cannot move everybody: a timestamp
# after the load (plus a day for clocks and time zones) would move the scoring date, one before
# 1990 is a zero or default date; an amount beyond a billion in its currency is a typo or an
# attack, and the money arithmetic of the warehouse (DECIMAL(18,3) in US dollars) holds every
# amount within it. A row outside is quarantined with the constant's name in its reason.
EARLIEST_TIMESTAMP = "1990-01-01"
FUTURE_TOLERANCE = timedelta(days=1)
MAX_AMOUNT = 1_000_000_000
MAX_QUANTITY = 1_000_000


@dataclass(frozen=True)
class Column:
    name: str
    type: str = TEXT
    # A row whose value is missing is quarantined (keys and the fields every row needs).
    not_null: bool = False
    # A SQL predicate over the typed value, written with `{col}`; a row that fails it is
    # quarantined with `reason`.
    check: str | None = None
    reason: str | None = None
    # A file without this column is rejected whole; optional columns are read as empty.
    required: bool = True
    # A timestamp that may lie ahead (an expected close date); others are quarantined when later
    # than the load plus FUTURE_TOLERANCE.
    may_be_future: bool = False
    # An email ("email") or another person identifier ("id"): normalised as it loads
    # (nextsale.identifiers), so that every comparison downstream sees one spelling.
    identifier: str | None = None


@dataclass(frozen=True)
class Contract:
    table: str  # raw.<table> and raw_quarantine.<table>
    folder: str  # landing sub-folder, e.g. "shop/orders"
    columns: tuple[Column, ...]
    natural_key: tuple[str, ...]
    description: str
    # Orders, their lines and products are required; any other source may have no files at all
    # (its table is then empty, and what it feeds is empty or null: `feeds` says what).
    optional: bool = False
    feeds: str = ""
    # Rules over several columns: (SQL predicate over the typed values, written with
    # `{column}`, reason); a row that fails one is quarantined with the reason.
    row_checks: tuple[tuple[str, str], ...] = ()
    column_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))

    def files(self, landing_dir: Path) -> list[Path]:
        """Landing files of this table, in name order (exports are named by time)."""
        folder = landing_dir / self.folder
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(FILE_SUFFIXES))


def _non_negative(name: str) -> Column:
    return Column(name, MONEY, check="{col} >= 0", reason=f"{name} is negative")


CONTRACTS: tuple[Contract, ...] = (
    Contract(
        table="crm_contacts",
        folder="crm/contacts",
        natural_key=("contact_id",),
        description="CRM contacts (HubSpot/Salesforce-like export); one row per contact version.",
        optional=True,
        feeds="consent (without it nobody has opted in, so no audience is sendable), names, "
        "lifecycle stage and identity links from CRM records",
        columns=(
            Column("contact_id", not_null=True, identifier=ID),
            Column("email", identifier=EMAIL),
            Column("first_name"),
            Column("last_name"),
            Column("phone", required=False),
            Column("company_id", required=False),
            # The shop account the CRM record belongs to, when the CRM stores it (optional).
            Column("shop_customer_id", required=False, identifier=ID),
            Column("lifecycle_stage"),
            Column("lead_source", required=False),
            Column("country"),
            Column("created_at", TIMESTAMP, not_null=True),
            Column("updated_at", TIMESTAMP, not_null=True),
            Column("email_opt_in", BOOL),
            Column("sms_opt_in", BOOL),
            Column("do_not_contact", BOOL),
        ),
    ),
    Contract(
        table="crm_companies",
        folder="crm/companies",
        natural_key=("company_id",),
        description="CRM companies (accounts) that B2B contacts belong to.",
        optional=True,
        feeds="company size and industry in customer_360 (B2B)",
        columns=(
            Column("company_id", not_null=True),
            Column("name"),
            Column("industry", required=False),
            Column("employees", INT, check="{col} >= 0", reason="employees is negative"),
            Column("country"),
        ),
    ),
    Contract(
        table="crm_deals",
        folder="crm/deals",
        natural_key=("deal_id",),
        description="CRM deals (B2B pipeline); optional for B2C shops.",
        feeds="open and won pipeline in customer_360 (B2B)",
        optional=True,
        columns=(
            Column("deal_id", not_null=True),
            Column("contact_id", identifier=ID),
            Column("stage"),
            _non_negative("amount"),
            Column("created_at", TIMESTAMP, not_null=True),
            Column("closed_at", TIMESTAMP, may_be_future=True),
        ),
    ),
    Contract(
        table="crm_erasure_requests",
        folder="crm/erasure_requests",
        natural_key=("email", "phone", "shop_customer_id", "contact_id"),
        description="GDPR erasure requests: the person leaves every output and destination. A "
        "request names the person by any one of their identifiers.",
        optional=True,
        feeds="erasures (nobody is erased without it)",
        columns=(
            Column("email", identifier=EMAIL),
            Column("requested_at", TIMESTAMP, not_null=True),
            Column("phone", required=False, identifier=ID),
            Column("shop_customer_id", required=False, identifier=ID),
            Column("contact_id", required=False, identifier=ID),
        ),
        row_checks=(
            (
                "coalesce({email}, {phone}, {shop_customer_id}, {contact_id}) is not null",
                "missing identifier: an erasure request names no email, phone or id",
            ),
        ),
    ),
    Contract(
        table="web_events",
        folder="web/events",
        natural_key=("event_id",),
        description="Web analytics events (GA4-like), one JSON object per line.",
        optional=True,
        feeds="sessions, browsing and cart features, cookie identity links and the "
        "abandoned_cart_sms audience",
        columns=(
            Column("event_id", not_null=True),
            Column("event_ts", TIMESTAMP, not_null=True),
            Column("anonymous_id", not_null=True, identifier=ID),
            Column("user_id", identifier=ID),
            Column("session_id", not_null=True),
            Column("event_name", not_null=True),
            Column("page_path"),
            Column("product_id"),
            Column("email", identifier=EMAIL),
            Column("utm_source"),
            Column("utm_medium"),
            Column("utm_campaign"),
            Column("device"),
            Column("country"),
        ),
    ),
    Contract(
        table="shop_orders",
        folder="shop/orders",
        natural_key=("order_id",),
        description="Shop orders (Shopify-like export); guest orders have no customer_id.",
        columns=(
            Column("order_id", not_null=True),
            Column("customer_id", identifier=ID),
            Column("email", identifier=EMAIL),
            Column("created_at", TIMESTAMP, not_null=True),
            # Known currencies are those of the reporting-currency seed; see ingest.py.
            Column("currency", not_null=True),
            _non_negative("subtotal"),
            _non_negative("discount"),
            _non_negative("shipping"),
            Column("total", MONEY, not_null=True, check="{col} >= 0", reason="total is negative"),
            Column(
                "status",
                not_null=True,
                check="{col} in ('paid', 'refunded', 'cancelled')",
                reason="status is not one of paid, refunded, cancelled",
            ),
            Column("is_test", BOOL),
        ),
    ),
    Contract(
        table="shop_order_lines",
        folder="shop/order_lines",
        natural_key=("order_id", "line_id"),
        description="Shop order lines: one row per product in an order.",
        columns=(
            Column("order_id", not_null=True),
            Column("line_id", not_null=True),
            Column("product_id", not_null=True),
            Column(
                "quantity", INT, not_null=True, check="{col} > 0", reason="quantity is not positive"
            ),
            Column(
                "unit_price",
                MONEY,
                not_null=True,
                check="{col} >= 0",
                reason="unit_price is negative",
            ),
            _non_negative("discount"),
        ),
        row_checks=(
            (
                f"{{quantity}} <= {MAX_QUANTITY} and {{quantity}} * {{unit_price}} <= {MAX_AMOUNT}",
                f"bad quantity: beyond {MAX_QUANTITY:,} units or {MAX_AMOUNT:,} for the line "
                "(contracts.MAX_QUANTITY, MAX_AMOUNT)",
            ),
        ),
    ),
    Contract(
        table="shop_products",
        folder="shop/products",
        natural_key=("product_id",),
        description="Product catalogue: families with tiers 1 (entry) to 3 (premium).",
        columns=(
            Column("product_id", not_null=True),
            Column("name"),
            Column("category"),
            Column("family"),
            Column("tier", INT, check="{col} between 1 and 3", reason="tier is not 1, 2 or 3"),
            _non_negative("price"),
            Column(
                "margin_rate",
                RATE,
                check="{col} between 0 and 1",
                reason="margin_rate is not between 0 and 1",
            ),
            Column("active", BOOL),
        ),
    ),
    Contract(
        table="campaign_sends",
        folder="campaigns/sends",
        natural_key=("send_id",),
        description="Campaign sends: who was sent which offer on which channel and when, and "
        "the audience members kept back as its holdout (is_holdout, nothing sent), so that "
        "each campaign's lift can be measured. Optional: shops without campaign logs have none.",
        feeds="campaign outcomes and lift, the offer model and its offers",
        optional=True,
        columns=(
            Column("send_id", not_null=True),
            Column("campaign_id", not_null=True),
            # the person, by the identifier the sending tool knows: an email, a CRM contact id
            # or a shop customer id
            Column("email", identifier=EMAIL),
            Column("contact_id", required=False, identifier=ID),
            Column("customer_id", required=False, identifier=ID),
            Column("audience", not_null=True),
            Column(
                "offer_type",
                check="{col} in ('product', 'free_shipping', 'discount')",
                reason="offer_type is not product, free_shipping or discount",
            ),
            Column("offer_value"),
            Column(
                "channel",
                not_null=True,
                check="{col} in ('email', 'sms', 'mail')",
                reason="channel is not email, sms or mail",
            ),
            Column("sent_at", TIMESTAMP, not_null=True),
            Column("is_holdout", BOOL, not_null=True),
        ),
    ),
)

CONTRACTS_BY_TABLE = {c.table: c for c in CONTRACTS}
