{#- Klaviyo profiles, imported by email: Klaviyo's own attributes plus nextsale's custom profile
    properties. List membership comes from audience_members (email audiences, sendable only). -#}
with

people as (

    select * from {{ ref('int_activation__people') }}
    where email is not null and not is_erasure_requested and not coalesce(is_do_not_contact, false)

),

final as (

    select
        customer_key as external_id,
        email,
        phone as phone_number,
        first_name,
        last_name,
        rfm_segment as nextsale_rfm_segment,
        lifecycle_stage as nextsale_lifecycle_stage,
        value_tier as nextsale_value_tier,
        round(purchase_propensity, 4) as nextsale_purchase_propensity,
        round(churn_risk, 4) as nextsale_churn_risk,
        round(upsell_propensity, 4) as nextsale_upsell_propensity,
        round(expected_ltv_usd, 2) as nextsale_expected_ltv,
        round(potential_ltv_usd, 2) as nextsale_potential_ltv,
        round(ltv_headroom_usd, 2) as nextsale_ltv_headroom,
        round(expected_days_to_next_order, 1) as nextsale_expected_days_to_next_order,
        cross_sell_category as nextsale_cross_sell_category,
        cross_sell_product_id as nextsale_cross_sell_product,
        upsell_product_id as nextsale_upsell_product,
        score_reasons as nextsale_score_reasons,
        as_of_date as nextsale_scored_on
    from people

)

select * from final
