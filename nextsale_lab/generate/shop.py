"""The shop's exports: the product catalogue, orders (with test orders) and order lines, as CSV."""

from __future__ import annotations

from nextsale_lab.generate.files import SourceFile

PRODUCTS_SQL = """
select product_id, name, category, family, tier, round(price, 2) as price,
       round(margin_rate, 4) as margin_rate, active
from products order by product_idx
"""

ORDERS_SQL = """
with numbered as (
    select o.*, p.offset_h,
           case when o.email_kind = 2 then p.email2 else p.email1 end as clean_email
    from orders o join people p using (pid)
), shaped as (
    select
        dirt,
        order_key(order_row) as order_key,
        case when dirt = 2 then null else order_key(order_row) end as order_id,
        case when has_account then customer_id(pid) end as customer_id,
        case when messy_email then messy(clean_email) else clean_email end as email,
        case when dirt = 1 then bad_ts(order_row) else iso_local(day, offset_h) end as created_at,
        case when dirt = 3 then 'ZZZ' else currency end as currency,
        subtotal, discount, shipping, total, status, false as is_test
    from numbered
), test_rows as (
    select 0 as dirt, test_order_key(test_no) as order_key, test_order_key(test_no) as order_id,
           null as customer_id, 'test+' || test_no || '@nextsale-shop.com' as email,
           iso_utc(day) as created_at, 'USD' as currency, 9.99 as subtotal, 0.0 as discount,
           0.0 as shipping, 9.99 as total, 'paid' as status, true as is_test
    from test_orders
)
select * exclude (dirt, order_key) from (
    from shaped union all from test_rows union all (from shaped where dirt = 5)
)
"""

LINES_SQL = """
with shaped as (
    select
        n.dirt,
        order_key(n.order_row) as order_id,
        cast(n.line_no as varchar) as line_id,
        case when n.dirt = 2 then null else pr.product_id end as product_id,
        case when n.dirt = 4 then -n.quantity else n.quantity end as quantity,
        n.unit_price,
        n.discount
    from lines n join products pr on pr.product_idx = n.product_idx
), test_rows as (
    select 0 as dirt, test_order_key(test_no) as order_id, '1' as line_id,
           'SKU-10001' as product_id, 1 as quantity, 9.99 as unit_price, 0.0 as discount
    from test_orders
)
select * exclude (dirt) from (from shaped union all from test_rows union all (from shaped where dirt = 5))
"""

FILES = (
    SourceFile("shop_products", PRODUCTS_SQL, once="products.csv"),
    SourceFile("shop_orders", ORDERS_SQL),
    SourceFile("shop_order_lines", LINES_SQL),
)
