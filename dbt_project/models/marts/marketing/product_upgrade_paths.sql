{#- For each product, the next tier up in its family among active products (the upsell offer). -#}
with

products as (

    select * from {{ ref('stg_shop__products') }}

),

candidates as (

    select
        product.product_id,
        product.family,
        product.tier,
        upgrade.product_id as upgrade_product_id,
        upgrade.tier as upgrade_tier,
        upgrade.price - product.price as price_uplift,
        upgrade.price * upgrade.margin_rate - product.price * product.margin_rate as margin_uplift,
        row_number() over (partition by product.product_id order by upgrade.tier) as step
    from products as product
    inner join products as upgrade
        on upgrade.family = product.family
        and upgrade.tier > product.tier
        and upgrade.is_active

)

select product_id, family, tier, upgrade_product_id, upgrade_tier, price_uplift, margin_uplift
from candidates
where step = 1
