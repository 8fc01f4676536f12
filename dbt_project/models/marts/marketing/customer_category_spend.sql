{#- Spend by person and product category (paid orders before the scoring date). -#}
with

lines as (

    select * from {{ ref('int_customers__lines') }} where is_paid and category is not null

),

spend as (

    select
        customer_key,
        category,
        count(distinct order_id) as orders,
        sum(line_amount_usd) as revenue_usd,
        sum(line_margin_usd) as margin_usd,
        min(created_at) as first_bought_at,
        max(created_at) as last_bought_at
    from lines
    group by customer_key, category

)

select * from spend
