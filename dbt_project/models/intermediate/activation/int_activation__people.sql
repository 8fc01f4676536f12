{#- Everything a destination or an audience rule may use, one row per person: the customer 360,
    the segment, the published scores and the next best offer. People without scores (no model
    published yet) keep their 360 columns with null scores. -#}
with

people as (

    select * from {{ ref('customer_360') }}

),

segments as (

    select * from {{ ref('customer_segments') }}

),

scores as (

    select * from {{ source('scores', 'customer_scores') }}

),

offers as (

    select * from {{ ref('next_best_offers') }}

),

erasures as (

    select email from {{ ref('erasure_requests') }}

),

final as (

    select
        -- ids
        people.customer_key,
        people.email,
        people.phone,
        people.contact_id,
        people.shop_customer_id,

        -- consent
        people.is_email_opt_in,
        people.is_sms_opt_in,
        people.is_do_not_contact,
        -- defence in depth: features already leave erased people out
        erasures.email is not null as is_erasure_requested,

        -- dimensions
        people.first_name,
        people.last_name,
        people.country_code,
        people.top_category,
        segments.rfm_segment,
        segments.lifecycle_stage,
        segments.value_tier,

        -- behaviour
        people.frequency as orders_count,
        people.monetary_usd as revenue_usd,
        people.recency_days,
        people.abandoned_carts_last_7d,
        people.last_order_at,

        -- scores
        scores.purchase_propensity,
        scores.purchase_propensity_rank,
        scores.churn_risk,
        scores.expected_days_to_next_order,
        scores.upsell_propensity,
        scores.upsell_propensity_rank,
        scores.expected_ltv_usd,
        scores.potential_ltv_usd,
        scores.ltv_headroom_usd,
        scores.model_versions,

        -- next best offer
        offers.cross_sell_category,
        offers.cross_sell_product_id,
        offers.cross_sell_propensity,
        offers.upsell_product_id,
        offers.upsell_propensity as offer_upsell_propensity,
        -- the offer and channel that pay most (offer_uplift), e.g. 'discount 20%' by email
        offers.offer_type || case when offers.offer_discount_percent is not null
            then ' ' || cast(cast(offers.offer_discount_percent as integer) as varchar) || '%'
            else '' end as offer,
        offers.offer_channel,
        offers.offer_expected_incremental_margin_usd,
        offers.offer_reason,
        scores.as_of_date

    from people
    left join segments on segments.customer_key = people.customer_key
    left join scores on scores.customer_key = people.customer_key
    left join offers on offers.customer_key = people.customer_key
    left join erasures on erasures.email = people.email

)

select * from final
