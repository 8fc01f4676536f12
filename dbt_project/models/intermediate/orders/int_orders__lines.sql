{#- Order lines with their order (time, status, identifiers), product (category, family, tier,
    margin) and amounts in USD. Lines of orders that staging dropped (test orders) or that were
    quarantined have no order and are left out here. -#}
with

lines as (

    select * from {{ ref('stg_shop__order_lines') }}

),

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

joined as (

    select
        -- ids
        lines.order_id,
        lines.line_id,
        lines.product_id,
        orders.customer_id,
        orders.email,

        -- dimensions
        orders.is_paid,
        products.category,
        products.family,
        products.tier,

        -- numerics
        lines.quantity,
        {{ to_usd('lines.line_amount', 'orders.usd_per_unit') }} as line_amount_usd,
        {{ to_usd('lines.line_amount', 'orders.usd_per_unit * products.margin_rate') }}
            as line_margin_usd,

        -- timestamps
        orders.created_at

    from lines
    inner join orders on orders.order_id = lines.order_id
    left join products on products.product_id = lines.product_id

)

select * from joined
