{#- HubSpot contacts, upserted by email: default properties by their HubSpot names, nextsale's
    as snake_case custom properties (created by the sync if missing). Nobody who asked to be
    erased or not to be contacted. -#}
with

people as (

    select * from {{ ref('int_activation__people') }}
    where email is not null and not is_erasure_requested and not coalesce(is_do_not_contact, false)

),

audiences as (

    select customer_key, {{ dbt.listagg('audience', "';'", "order by audience") }} as audiences
    from {{ ref('audience_members') }}
    where is_sendable and channel = 'email'
    group by customer_key

),

final as (

    select
        people.customer_key as nextsale_customer_key,
        people.email,
        people.first_name as firstname,
        people.last_name as lastname,
        people.phone,
        people.rfm_segment as nextsale_rfm_segment,
        people.lifecycle_stage as nextsale_lifecycle_stage,
        people.value_tier as nextsale_value_tier,
        round(people.purchase_propensity, 4) as nextsale_purchase_propensity,
        round(people.churn_risk, 4) as nextsale_churn_risk,
        round(people.upsell_propensity, 4) as nextsale_upsell_propensity,
        round(people.expected_ltv_usd, 2) as nextsale_expected_ltv,
        round(people.potential_ltv_usd, 2) as nextsale_potential_ltv,
        round(people.ltv_headroom_usd, 2) as nextsale_ltv_headroom,
        people.cross_sell_category as nextsale_cross_sell_category,
        people.cross_sell_product_id as nextsale_cross_sell_product,
        people.upsell_product_id as nextsale_upsell_product,
        people.score_reasons as nextsale_score_reasons,
        audiences.audiences as nextsale_audiences,
        people.as_of_date as nextsale_scored_on
    from people
    left join audiences on audiences.customer_key = people.customer_key

)

select * from final
