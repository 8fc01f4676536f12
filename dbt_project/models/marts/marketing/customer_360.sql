{#- One row per person (customer_key from the identity graph), as of the scoring date:
    identities, consent, CRM attributes, RFM and the rest of the features (the same macro the
    models use), categories bought, acquisition channel. Erased people are not here. -#}
with

features as (

    select * from {{ ref('ml_scoring_snapshot') }}

),

keys as (

    select * from {{ ref('int_identity__customer_keys') }}

),

contacts as (

    select
        keys.customer_key,
        contacts.*,
        row_number() over (
            partition by keys.customer_key order by contacts.updated_at desc, contacts.contact_id asc
        ) as contact_rank
    from {{ ref('stg_crm__contacts') }} as contacts
    inner join keys on keys.node_id = {{ identifier_node('contact_id', 'contacts.contact_id') }}

),

consent as (

    -- the rule over all of a person's CRM records (the most restrictive wins) is in one place
    select * from {{ ref('int_customers__consent') }}

),

identities as (

    select
        customer_key,
        min(case when identifier_type = 'customer_id'
                 then {{ dbt.split_part('node_id', "':'", 2) }} end) as shop_customer_id,
        min(case when identifier_type = 'email'
                 then {{ dbt.split_part('node_id', "':'", 2) }} end) as any_email
    from keys
    group by customer_key

),

last_order_email as (

    select customer_key, email,
           row_number() over (partition by customer_key order by created_at desc) as email_rank
    from {{ ref('int_customers__orders') }}
    where email is not null

),

excluded as (

    select node_id from {{ ref('int_identity__identifiers') }} where exclusion_reason is not null

),

first_touch as (

    select customer_key, utm_source, utm_medium,
           row_number() over (partition by customer_key order by started_at, session_id) as touch_rank
    from {{ ref('int_customers__sessions') }}

),

category_spend as (

    select * from {{ ref('customer_category_spend') }}

),

categories as (

    select
        customer_key,
        {{ dbt.listagg('category', "', '", 'order by category') }} as categories_bought_list,
        max(case when spend_rank = 1 then category end) as top_category
    from (
        select customer_key, category,
               row_number() over (partition by customer_key order by revenue_usd desc, category asc)
                   as spend_rank
        from category_spend
    ) as ranked
    group by customer_key

),

final as (

    select
        -- ids
        features.customer_key,
        coalesce(
            case when crm_email.node_id is null then contact.email end,
            last_order_email.email,
            identities.any_email
        ) as email,
        contact.contact_id,
        identities.shop_customer_id,
        features.known_emails,
        features.known_devices,

        -- consent
        coalesce(consent.is_email_opt_in, false) as is_email_opt_in,
        coalesce(consent.is_sms_opt_in, false) as is_sms_opt_in,
        coalesce(consent.is_do_not_contact, false) as is_do_not_contact,

        -- CRM attributes
        contact.first_name,
        contact.last_name,
        contact.phone,
        contact.country_code,
        contact.company_id,
        coalesce(contact.lifecycle_stage, 'customer') as crm_lifecycle_stage,
        coalesce(contact.lead_source, first_touch.utm_source, 'direct') as acquisition_source,
        coalesce(first_touch.utm_medium, 'unknown') as acquisition_medium,

        -- RFM and value
        features.recency_days,
        features.orders_count as frequency,
        features.revenue_usd as monetary_usd,
        features.average_order_value_usd,
        features.tenure_days,
        features.first_order_at,
        features.last_order_at,
        features.orders_last_90d,
        features.orders_last_365d,
        features.revenue_last_365d_usd,
        features.refunded_orders,

        -- products
        features.categories_bought,
        categories.categories_bought_list,
        categories.top_category,
        features.families_owned,
        features.max_tier_owned,
        features.families_below_top_tier,

        -- web engagement
        {% for days in [7, 30, 90] %}
        features.sessions_last_{{ days }}d,
        features.product_views_last_{{ days }}d,
        features.carts_last_{{ days }}d,
        features.abandoned_carts_last_{{ days }}d,
        {% endfor %}
        features.days_since_last_session,

        features.cutoff_date as as_of_date

    from features
    left join contacts as contact
        on contact.customer_key = features.customer_key and contact.contact_rank = 1
    left join excluded as crm_email
        on crm_email.node_id = {{ identifier_node('email', 'contact.email') }}
    left join consent on consent.customer_key = features.customer_key
    left join identities on identities.customer_key = features.customer_key
    left join last_order_email
        on last_order_email.customer_key = features.customer_key
        and last_order_email.email_rank = 1
    left join first_touch
        on first_touch.customer_key = features.customer_key and first_touch.touch_rank = 1
    left join categories on categories.customer_key = features.customer_key

)

select * from final
