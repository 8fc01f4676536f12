{#- First customer 360: one row per person known by a normalised email (shop orders or CRM),
    with order-based RFM. People who asked to be erased are left out. The identity graph of the
    warehouse issue replaces the email key with a customer_key over every identifier. -#}
with

orders as (

    select * from {{ ref('stg_shop__orders') }} where email is not null

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }} where email is not null

),

erasures as (

    select * from {{ ref('stg_crm__erasure_requests') }}

),

emails as (

    select email from orders
    union
    select email from contacts

),

order_summary as (

    select
        email,
        max(customer_id) as shop_customer_id,
        count(*) as orders_placed,
        sum(case when is_paid then 1 else 0 end) as paid_orders,
        sum(case when is_paid then total_usd else 0 end) as revenue_usd,
        min(case when is_paid then created_at end) as first_order_at,
        max(case when is_paid then created_at end) as last_order_at
    from orders
    group by email

),

contact_profile as (

    select
        *,
        row_number() over (partition by email order by updated_at desc, contact_id) as email_rank
    from contacts

),

customers as (

    select
        -- ids
        {{ dbt.hash('emails.email') }} as customer_key,
        emails.email,
        contact.contact_id,
        summary.shop_customer_id,

        -- dimensions
        contact.first_name,
        contact.last_name,
        contact.country_code,
        contact.lead_source,
        coalesce(contact.lifecycle_stage, 'customer') as crm_lifecycle_stage,
        coalesce(contact.is_email_opt_in, false) as is_email_opt_in,
        coalesce(contact.is_sms_opt_in, false) as is_sms_opt_in,
        coalesce(contact.is_do_not_contact, false) as is_do_not_contact,

        -- numerics
        coalesce(summary.orders_placed, 0) as orders_placed,
        coalesce(summary.paid_orders, 0) as frequency,
        coalesce(summary.revenue_usd, 0) as monetary_usd,
        case
            when summary.paid_orders > 0 then summary.revenue_usd / summary.paid_orders
        end as average_order_value_usd,
        {{ dbt.datediff('summary.last_order_at', as_of_date(), 'day') }} as recency_days,
        {{ dbt.datediff('coalesce(summary.first_order_at, contact.created_at)', as_of_date(), 'day') }}
            as tenure_days,

        -- timestamps
        summary.first_order_at,
        summary.last_order_at,
        contact.created_at as crm_created_at

    from emails
    left join order_summary as summary on summary.email = emails.email
    left join contact_profile as contact
        on contact.email = emails.email and contact.email_rank = 1
    left join erasures on erasures.email = emails.email
    where erasures.email is null

),

scored as (

    -- RFM quintiles among buyers: 5 = most recent, most frequent, highest spend
    select
        *,
        case when frequency > 0 then ntile(5) over (
            partition by case when frequency > 0 then 1 else 0 end order by recency_days desc
        ) end as recency_score,
        case when frequency > 0 then ntile(5) over (
            partition by case when frequency > 0 then 1 else 0 end order by frequency, monetary_usd
        ) end as frequency_score,
        case when frequency > 0 then ntile(5) over (
            partition by case when frequency > 0 then 1 else 0 end order by monetary_usd
        ) end as monetary_score
    from customers

)

select * from scored
