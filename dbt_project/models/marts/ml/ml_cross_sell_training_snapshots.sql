{#- Customer x category rows for categories not bought before each training cutoff, labelled
    with whether the person's first purchase in that category came within the propensity horizon
    after it (90 days; 30 on a history shorter than a year). -#}
with

cutoffs as (

    select * from {{ ref('int_calendar__cutoffs') }}
    where is_training and has_propensity_label

),

category_features as (

    {{ customer_category_features(training_cutoffs()) }}

),

persons as (

    select cutoff_date, component_id, person_key
    from {{ ref('ml_training_snapshots') }}

),

first_purchases as (

    select customer_key as person_key, category, min(created_at) as first_bought_at
    from {{ ref('int_customers__lines') }}
    where is_paid and category is not null
    group by customer_key, category

),

final as (

    select
        category_features.*,
        coalesce(
            first_purchases.first_bought_at >= cast(category_features.cutoff_date as {{ dbt.type_timestamp() }})
            and first_purchases.first_bought_at < {{ dbt.dateadd('day', 'cutoffs.propensity_horizon_days', 'cast(category_features.cutoff_date as ' ~ dbt.type_timestamp() ~ ')') }},
            false
        ) as label_first_category_purchase_90d
    from category_features
    inner join cutoffs on cutoffs.cutoff_date = category_features.cutoff_date
    inner join persons
        on persons.cutoff_date = category_features.cutoff_date
        and persons.component_id = category_features.component_id
    left join first_purchases
        on first_purchases.person_key = persons.person_key
        and first_purchases.category = category_features.category
    where not category_features.has_bought_category

)

select * from final
