{#- The highest tier each person has bought in each product family (the upsell starting point). -#}
with

lines as (

    select * from {{ ref('int_customers__lines') }} where is_paid and family is not null

),

tiers as (

    select
        customer_key,
        family,
        max(tier) as highest_tier,
        max(created_at) as last_bought_at
    from lines
    group by customer_key, family

)

select * from tiers
