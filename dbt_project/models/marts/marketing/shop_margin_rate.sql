{#- The shop's typical margin rate, one row: what the offer model (ml.offers) values an order at.
    Where the catalogue has no margins, revenue (a rate of 1), as for the cross-sell ranking. -#}
with

products as (

    select * from {{ ref('stg_shop__products') }}

)

select coalesce(avg(margin_rate), 1.0) as margin_rate
from products
where is_active
