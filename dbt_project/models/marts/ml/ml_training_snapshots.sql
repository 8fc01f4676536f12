{#- Features at each training cutoff (only rows before it, identity as it was then) with labels
    from the horizon after it. Labels follow the person through the current identity graph, so
    a purchase made under a new account still counts for them:
      label_purchased_90d       any paid order in [cutoff, cutoff + the propensity horizon): 90 days,
                                or 30 on a history shorter than a year (int_calendar__cutoffs)
      label_upsell_90d          a higher tier than any before, in a family owned before the cutoff,
                                within the same horizon
      label_ltv_revenue_usd     paid revenue in [cutoff, cutoff + ml_ltv_horizon_days (365)); null while that
                                horizon is not over at the scoring date
      label_days_to_next_order  days to the first paid order on or after the cutoff (null: none)
    Features describe the past and never start with label_. -#}
with

cutoffs as (

    select * from {{ ref('int_calendar__cutoffs') }}
    where is_training and has_propensity_label

),

features as (

    {{ customer_features(training_cutoffs()) }}

),

persons as (

    {{ persons_now('cutoffs', 'cutoffs') }}

),

paid_orders as (

    select customer_key as person_key, created_at, total_usd
    from {{ ref('int_customers__orders') }}
    where is_paid

),

paid_lines as (

    select customer_key as person_key, created_at, family, tier
    from {{ ref('int_customers__lines') }}
    where is_paid and family is not null

),

order_labels as (

    select
        persons.cutoff_date,
        persons.component_id,
        max(case when paid_orders.created_at < {{ dbt.dateadd('day', 'cutoffs.propensity_horizon_days', 'cast(persons.cutoff_date as ' ~ dbt.type_timestamp() ~ ')') }}
                 then 1 else 0 end) as purchased,
        sum(case when paid_orders.created_at < {{ dbt.dateadd('day', var('ml_ltv_horizon_days'), 'cast(persons.cutoff_date as ' ~ dbt.type_timestamp() ~ ')') }}
                 then paid_orders.total_usd else 0 end) as revenue_usd,
        min({{ dbt.datediff('persons.cutoff_date', 'paid_orders.created_at', 'day') }}) as days_to_next_order
    from persons
    inner join cutoffs on cutoffs.cutoff_date = persons.cutoff_date
    inner join paid_orders
        on paid_orders.person_key = persons.person_key
        and paid_orders.created_at >= cast(persons.cutoff_date as {{ dbt.type_timestamp() }})
    group by persons.cutoff_date, persons.component_id

),

owned_before as (

    select persons.cutoff_date, persons.component_id, persons.person_key, paid_lines.family,
           max(paid_lines.tier) as max_tier
    from persons
    inner join paid_lines
        on paid_lines.person_key = persons.person_key
        and paid_lines.created_at < cast(persons.cutoff_date as {{ dbt.type_timestamp() }})
    group by persons.cutoff_date, persons.component_id, persons.person_key, paid_lines.family

),

upsell_labels as (

    select owned_before.cutoff_date, owned_before.component_id, 1 as upsold
    from owned_before
    inner join cutoffs on cutoffs.cutoff_date = owned_before.cutoff_date
    inner join paid_lines
        on paid_lines.person_key = owned_before.person_key
        and paid_lines.family = owned_before.family
        and paid_lines.tier > owned_before.max_tier
        and paid_lines.created_at >= cast(owned_before.cutoff_date as {{ dbt.type_timestamp() }})
        and paid_lines.created_at < {{ dbt.dateadd('day', 'cutoffs.propensity_horizon_days', 'cast(owned_before.cutoff_date as ' ~ dbt.type_timestamp() ~ ')') }}
    group by owned_before.cutoff_date, owned_before.component_id

),

final as (

    select
        features.*,
        persons.person_key,
        coalesce(order_labels.purchased, 0) = 1 as label_purchased_90d,
        coalesce(upsell_labels.upsold, 0) = 1 as label_upsell_90d,
        cast(case when cutoffs.has_ltv_label then coalesce(order_labels.revenue_usd, 0) end
             as {{ type_double() }}) as label_ltv_revenue_usd,
        cast(order_labels.days_to_next_order as {{ dbt.type_bigint() }}) as label_days_to_next_order
    from features
    inner join cutoffs on cutoffs.cutoff_date = features.cutoff_date
    left join persons
        on persons.cutoff_date = features.cutoff_date
        and persons.component_id = features.component_id
    left join order_labels
        on order_labels.cutoff_date = features.cutoff_date
        and order_labels.component_id = features.component_id
    left join upsell_labels
        on upsell_labels.cutoff_date = features.cutoff_date
        and upsell_labels.component_id = features.component_id

)

select * from final
