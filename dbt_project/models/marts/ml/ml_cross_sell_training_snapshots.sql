{#- Customer x category rows for categories not bought before each training cutoff, labelled
    with whether the person's first purchase in that category came within 90 days after it. -#}
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
            and first_purchases.first_bought_at < {{ dbt.dateadd('day', var('ml_propensity_horizon_days'), 'cast(category_features.cutoff_date as ' ~ dbt.type_timestamp() ~ ')') }},
            false
        ) as label_first_category_purchase_90d
    from category_features
    inner join persons
        on persons.cutoff_date = category_features.cutoff_date
        and persons.component_id = category_features.component_id
    left join first_purchases
        on first_purchases.person_key = persons.person_key
        and first_purchases.category = category_features.category
    where not category_features.has_bought_category

)

select * from final
