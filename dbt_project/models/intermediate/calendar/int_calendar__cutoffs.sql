{#- The dates features are computed as of. `as_of` (is_scoring) is the scoring date, by default
    the day after the latest order; training cutoffs are month starts before it (or the explicit
    `ml_cutoffs` var); campaign cutoffs are the days campaigns were sent. One date can be more
    than one of these. Each cutoff says which label horizons are complete.

    The rule for short histories: when the orders span less than `ml_short_history_days` (365)
    before as_of, monthly cutoffs and a 90-day horizon leave no training row (a training label
    must end by the test cutoff, whose own label must end by as_of), so the cutoffs are weekly
    (Mondays after the first order) and the propensity horizon is
    `ml_short_propensity_horizon_days` (30): six months of orders then give about 17 training
    cutoffs and a test cutoff a month before as_of. The LTV horizon stays a year. -#}
with

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

as_of as (

    {% if var('as_of_date', '') %}
    select cast('{{ var("as_of_date") }}' as date) as as_of_date
    {% else %}
    select
        coalesce(
            cast({{ dbt.dateadd('day', 1, 'max(created_at)') }} as date),
            current_date
        ) as as_of_date
    from orders
    {% endif %}

),

history as (

    select
        cast(min(orders.created_at) as date) as first_order_date,
        coalesce(
            {{ dbt.datediff('min(orders.created_at)', 'max(as_of.as_of_date)', 'day') }}, 0
        ) < {{ var('ml_short_history_days') }} as is_short
    from orders
    cross join as_of

),

{% if var('ml_cutoffs', []) %}
training as (

    {% for cutoff in var('ml_cutoffs') %}
    select cast('{{ cutoff }}' as date) as cutoff_date
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),
{% else %}
months as (

    {{ dbt.generate_series(var('ml_cutoff_months')) }}

),

weeks as (

    {{ dbt.generate_series(var('ml_short_history_days') // 7 + 1) }}

),

training as (

    select
        cast({{ dbt.dateadd('month', '-1 * months.generated_number',
                            dbt.date_trunc('month', 'as_of.as_of_date')) }} as date) as cutoff_date
    from months
    cross join as_of
    cross join history
    where not history.is_short

    union all

    select
        cast({{ dbt.dateadd('week', '-1 * weeks.generated_number',
                            dbt.date_trunc('week', 'as_of.as_of_date')) }} as date) as cutoff_date
    from weeks
    cross join as_of
    cross join history
    where history.is_short
        and {{ dbt.dateadd('week', '-1 * weeks.generated_number',
                           dbt.date_trunc('week', 'as_of.as_of_date')) }} > history.first_order_date

),
{% endif %}

campaigns as (

    -- each campaign is learned from as of the day its first send went out
    select cast(min(sent_at) as date) as cutoff_date
    from {{ ref('stg_campaigns__sends') }}
    group by campaign_id

),

cutoffs as (

    select cutoff_date, max(is_training) = 1 as is_training, max(is_campaign) = 1 as is_campaign,
           max(is_scoring) = 1 as is_scoring
    from (
        select cutoff_date, 1 as is_training, 0 as is_campaign, 0 as is_scoring from training
        union all
        select cutoff_date, 0, 1, 0 from campaigns
        union all
        select as_of_date, 0, 0, 1 from as_of
    ) as dates
    group by cutoff_date

),

horizons as (

    select
        coalesce(history.is_short, false) as is_short_history,
        case when history.is_short then {{ var('ml_short_propensity_horizon_days') }}
             else {{ var('ml_propensity_horizon_days') }} end as propensity_horizon_days
    -- as_of is the one row every horizon has; history may be empty
    from as_of -- noqa: ST11
    left join history on true

),

final as (

    select
        cutoffs.cutoff_date,
        cutoffs.is_training,
        cutoffs.is_campaign,
        cutoffs.is_scoring,
        as_of.as_of_date,
        horizons.is_short_history,
        horizons.propensity_horizon_days,
        {{ var('ml_ltv_horizon_days') }} as ltv_horizon_days,
        {{ dbt.dateadd('day', 'horizons.propensity_horizon_days', 'cutoffs.cutoff_date') }}
            <= as_of.as_of_date as has_propensity_label,
        {{ dbt.dateadd('day', var('ml_ltv_horizon_days'), 'cutoffs.cutoff_date') }}
            <= as_of.as_of_date as has_ltv_label
    from cutoffs
    cross join as_of
    cross join horizons
    where cutoffs.is_scoring or cutoffs.cutoff_date < as_of.as_of_date

)

select * from final
