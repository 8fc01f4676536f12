{#- Products bought together: for every ordered pair (product, other product) that shares at
    least var('affinity_min_orders') paid orders, its support, confidence and lift. Built from
    pairs within orders only, never a customer x product cross join. The source of "frequently
    bought together" cross-sell offers. -#}
with

order_products as (

    select distinct order_id, product_id
    from {{ ref('int_orders__lines') }}
    where is_paid and product_id is not null

),

totals as (

    select count(distinct order_id) as orders from order_products

),

product_orders as (

    select product_id, count(*) as orders from order_products group by product_id

),

pairs as (

    select a.product_id, b.product_id as other_product_id, count(*) as orders_together
    from order_products as a
    inner join order_products as b
        on b.order_id = a.order_id and b.product_id <> a.product_id
    group by a.product_id, b.product_id
    having count(*) >= {{ var('affinity_min_orders') }}

),

final as (

    select
        pairs.product_id,
        pairs.other_product_id,
        pairs.orders_together,
        pairs.orders_together * 1.0 / totals.orders as support,
        pairs.orders_together * 1.0 / product.orders as confidence,
        (pairs.orders_together * 1.0 / product.orders)
            / (other_product.orders * 1.0 / totals.orders) as lift
    from pairs
    cross join totals
    inner join product_orders as product on product.product_id = pairs.product_id
    inner join product_orders as other_product on other_product.product_id = pairs.other_product_id

)

select * from final
