{#- The dates features are computed as of. `as_of` (is_scoring) is the scoring date, by default
    the day after the latest order; training cutoffs are month starts before it (or the explicit
    `ml_cutoffs` var). Each cutoff says which label horizons are complete. -#}
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

training as (

    select
        cast({{ dbt.dateadd('month', '-1 * months.generated_number',
                            dbt.date_trunc('month', 'as_of.as_of_date')) }} as date) as cutoff_date
    from months
    cross join as_of

),
{% endif %}

cutoffs as (

    select cutoff_date, false as is_scoring from training
    union all
    select as_of_date, true from as_of

),

final as (

    select
        cutoffs.cutoff_date,
        cutoffs.is_scoring,
        as_of.as_of_date,
        {{ var('ml_propensity_horizon_days') }} as propensity_horizon_days,
        {{ var('ml_ltv_horizon_days') }} as ltv_horizon_days,
        {{ dbt.dateadd('day', var('ml_propensity_horizon_days'), 'cutoffs.cutoff_date') }}
            <= as_of.as_of_date as has_propensity_label,
        {{ dbt.dateadd('day', var('ml_ltv_horizon_days'), 'cutoffs.cutoff_date') }}
            <= as_of.as_of_date as has_ltv_label
    from cutoffs
    cross join as_of
    where cutoffs.is_scoring or cutoffs.cutoff_date < as_of.as_of_date

)

select * from final
