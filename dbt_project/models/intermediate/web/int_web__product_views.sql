{#- Product views with the product's family and tier (the upsell signal: looking up a tier). -#}
with

events as (

    select * from {{ ref('stg_web__events') }}
    where event_name = 'view_item' and product_id is not null

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

final as (

    select
        events.event_id,
        events.session_id,
        events.product_id,
        products.category,
        products.family,
        products.tier,
        events.event_at as viewed_at
    from events
    inner join products on products.product_id = events.product_id

)

select * from final
