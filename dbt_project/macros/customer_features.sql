{#- Every model feature, for every person known at each cutoff in `cutoffs` (a relation with a
    `cutoff_date` column), computed only from rows strictly before the cutoff and grouped by the
    identity graph as it was then. The one place features are defined: training snapshots,
    the scoring snapshot and customer_360 all read it, so training and scoring cannot drift.
    People who asked to be erased are left out. -#}
{% macro customer_features(cutoffs) %}
with

{{ activity_at_cutoffs(cutoffs) }}

erased_components as (

    select distinct components.cutoff_date, components.component_id
    from components
    inner join {{ ref('int_identity__erasure_nodes') }} as erasures
        on erasures.node_id = components.node_id

),

customers as (

    select
        components.cutoff_date,
        components.component_id,
        min(identifiers.first_seen_at) as first_seen_at,
        sum(case when components.identifier_type = 'email' then 1 else 0 end) as known_emails,
        sum(case when components.identifier_type = 'anonymous_id' then 1 else 0 end)
            as known_devices,
        max(case when components.identifier_type = 'contact_id' then 1 else 0 end) as in_crm,
        max(case when components.identifier_type = 'customer_id' then 1 else 0 end)
            as has_account
    from components
    inner join {{ ref('int_identity__identifiers') }} as identifiers
        on identifiers.node_id = components.node_id
    left join erased_components
        on erased_components.cutoff_date = components.cutoff_date
        and erased_components.component_id = components.component_id
    where erased_components.component_id is null
    group by components.cutoff_date, components.component_id
    having sum(case when components.identifier_type <> 'anonymous_id' then 1 else 0 end) > 0

),

orders as (

    {{ attribute_to_components(
        ref('stg_shop__orders'), ['order_id'], 'created_at', order_nodes(), 'components') }}

),

contact_versions as (

    {{ attribute_to_components(
        ref('stg_crm__contact_versions'), ['contact_id', 'updated_at'], 'updated_at',
        [identifier_node('contact_id', 'r.contact_id')], 'components') }}

),

crm as (

    -- the contact as it stood at the cutoff: its latest version before it
    select cutoff_date, component_id, max(case when company_id is not null then 1 else 0 end) as is_b2b
    from (
        select
            contact_versions.*,
            row_number() over (
                partition by cutoff_date, contact_id order by updated_at desc
            ) as version_at_cutoff
        from contact_versions
    ) as latest
    where version_at_cutoff = 1
    group by cutoff_date, component_id

),

order_features as (

    {%- set cutoff_ts = 'cast(cutoff_date as ' ~ dbt.type_timestamp() ~ ')' %}
    select
        cutoff_date,
        component_id,
        count(*) as orders_count,
        -- BG/NBD counts purchase days, not orders: two orders on one day are one purchase
        count(distinct cast(created_at as date)) as purchase_days,
        sum(total_usd) as revenue_usd,
        min(created_at) as first_order_at,
        max(created_at) as last_order_at,
        {% for days in [90, 365] %}
        sum(case when created_at >= {{ dbt.dateadd('day', -days, cutoff_ts) }} then 1 else 0 end)
            as orders_last_{{ days }}d,
        sum(case when created_at >= {{ dbt.dateadd('day', -days, cutoff_ts) }} then total_usd else 0 end)
            as revenue_last_{{ days }}d_usd,
        {% endfor %}
        sum(case when discount_usd > 0 then 1 else 0 end) as discounted_orders
    from orders
    where is_paid
    group by cutoff_date, component_id

),

refunds as (

    select cutoff_date, component_id, count(*) as refunded_orders
    from orders
    where order_status = 'refunded'
    group by cutoff_date, component_id

),

family_tiers as (

    select cutoff_date, component_id, family, max(tier) as max_tier
    from lines
    where is_paid and family is not null
    group by cutoff_date, component_id, family

),

line_features as (

    select
        cutoff_date,
        component_id,
        count(distinct category) as categories_bought,
        count(distinct family) as families_owned,
        max(tier) as max_tier_owned
    from lines
    where is_paid
    group by cutoff_date, component_id

),

family_top_tiers as (

    select family, max(tier) as top_tier
    from {{ ref('stg_shop__products') }}
    where is_active and family is not null
    group by family

),

upgrade_room as (

    select family_tiers.cutoff_date, family_tiers.component_id, count(*) as families_below_top_tier
    from family_tiers
    inner join family_top_tiers on family_top_tiers.family = family_tiers.family
    where family_tiers.max_tier < family_top_tiers.top_tier
    group by family_tiers.cutoff_date, family_tiers.component_id

),

web_features as (

    {%- set cutoff_ts = 'cast(cutoff_date as ' ~ dbt.type_timestamp() ~ ')' %}
    select
        cutoff_date,
        component_id,
        {% for days in [7, 30, 90] %}
        {%- set since = dbt.dateadd('day', -days, cutoff_ts) %}
        sum(case when started_at >= {{ since }} then 1 else 0 end) as sessions_last_{{ days }}d,
        sum(case when started_at >= {{ since }} then product_views else 0 end)
            as product_views_last_{{ days }}d,
        sum(case when started_at >= {{ since }} then carts else 0 end) as carts_last_{{ days }}d,
        sum(case when started_at >= {{ since }} and is_abandoned_cart then 1 else 0 end)
            as abandoned_carts_last_{{ days }}d,
        {% endfor %}
        max(started_at) as last_session_at
    from sessions
    group by cutoff_date, component_id

),

upgrade_views as (

    -- views, in the last 90 days, of a higher tier in a family the person already owns
    select sessions.cutoff_date, sessions.component_id, count(*) as upgrade_views_last_90d
    from sessions
    inner join {{ ref('int_web__product_views') }} as views
        on views.session_id = sessions.session_id
    inner join family_tiers
        on family_tiers.cutoff_date = sessions.cutoff_date
        and family_tiers.component_id = sessions.component_id
        and family_tiers.family = views.family
    where views.tier > family_tiers.max_tier
      and views.viewed_at < cast(sessions.cutoff_date as {{ dbt.type_timestamp() }})
    group by sessions.cutoff_date, sessions.component_id

),

features as (

    {%- set count = dbt.type_bigint() %}
    {%- set amount = type_double() %}
    select
        -- ids
        customers.cutoff_date,
        {{ dbt.hash('customers.component_id') }} as customer_key,
        customers.component_id,

        -- identity and CRM
        cast(customers.known_emails as {{ count }}) as known_emails,
        cast(customers.known_devices as {{ count }}) as known_devices,
        customers.in_crm = 1 as is_in_crm,
        customers.has_account = 1 as has_shop_account,
        coalesce(crm.is_b2b, 0) = 1 as is_b2b,
        cast({{ dbt.datediff('customers.first_seen_at', 'customers.cutoff_date', 'day') }} as {{ count }})
            as tenure_days,

        -- orders (RFM and more)
        cast(coalesce(order_features.orders_count, 0) as {{ count }}) as orders_count,
        cast(coalesce(order_features.purchase_days, 0) as {{ count }}) as purchase_days,
        cast(coalesce(order_features.revenue_usd, 0) as {{ amount }}) as revenue_usd,
        cast(case when order_features.orders_count > 0
                  then order_features.revenue_usd / order_features.orders_count end as {{ amount }})
            as average_order_value_usd,
        cast({{ dbt.datediff('order_features.last_order_at', 'customers.cutoff_date', 'day') }} as {{ count }})
            as recency_days,
        cast({{ dbt.datediff('order_features.first_order_at', 'customers.cutoff_date', 'day') }} as {{ count }})
            as first_order_days_ago,
        cast(case when order_features.orders_count > 1
                  then {{ dbt.datediff('order_features.first_order_at', 'order_features.last_order_at', 'day') }}
                       * 1.0 / (order_features.orders_count - 1) end as {{ amount }})
            as average_days_between_orders,
        -- rates per 30 days as a customer: comparable between people (and cutoffs) with short
        -- and long histories, where counts and totals are not
        cast(coalesce(order_features.orders_count, 0) * 30.0
             / greatest(coalesce({{ dbt.datediff('order_features.first_order_at', 'customers.cutoff_date', 'day') }}, 30), 30)
             as {{ amount }}) as orders_per_30d,
        cast(coalesce(order_features.revenue_usd, 0) * 30.0
             / greatest(coalesce({{ dbt.datediff('order_features.first_order_at', 'customers.cutoff_date', 'day') }}, 30), 30)
             as {{ amount }}) as revenue_per_30d_usd,
        cast(coalesce(order_features.orders_last_90d, 0) as {{ count }}) as orders_last_90d,
        cast(coalesce(order_features.orders_last_365d, 0) as {{ count }}) as orders_last_365d,
        cast(coalesce(order_features.revenue_last_90d_usd, 0) as {{ amount }}) as revenue_last_90d_usd,
        cast(coalesce(order_features.revenue_last_365d_usd, 0) as {{ amount }}) as revenue_last_365d_usd,
        cast(case when order_features.orders_count > 0
                  then order_features.discounted_orders * 1.0 / order_features.orders_count
                  else 0 end as {{ amount }}) as discounted_order_share,
        cast(coalesce(refunds.refunded_orders, 0) as {{ count }}) as refunded_orders,

        -- products
        cast(coalesce(line_features.categories_bought, 0) as {{ count }}) as categories_bought,
        cast(coalesce(line_features.families_owned, 0) as {{ count }}) as families_owned,
        cast(coalesce(line_features.max_tier_owned, 0) as {{ count }}) as max_tier_owned,
        cast(coalesce(upgrade_room.families_below_top_tier, 0) as {{ count }}) as families_below_top_tier,

        -- web engagement
        {% for days in [7, 30, 90] %}
        {% for metric in ['sessions', 'product_views', 'carts', 'abandoned_carts'] %}
        cast(coalesce(web_features.{{ metric }}_last_{{ days }}d, 0) as {{ count }})
            as {{ metric }}_last_{{ days }}d,
        {% endfor %}
        {% endfor %}
        cast({{ dbt.datediff('web_features.last_session_at', 'customers.cutoff_date', 'day') }} as {{ count }})
            as days_since_last_session,
        cast(coalesce(upgrade_views.upgrade_views_last_90d, 0) as {{ count }}) as upgrade_views_last_90d,

        -- timestamps
        order_features.first_order_at,
        order_features.last_order_at

    from customers
    {% for name in ['crm', 'order_features', 'refunds', 'line_features', 'upgrade_room', 'web_features', 'upgrade_views'] %}
    left join {{ name }}
        on {{ name }}.cutoff_date = customers.cutoff_date
        and {{ name }}.component_id = customers.component_id
    {% endfor %}

)

select * from features
{% endmacro %}
