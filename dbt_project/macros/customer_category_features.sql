{#- Per person known at each cutoff and per product category: bought before the cutoff or not,
    and interest in it in the 90 days before (how often and how lately they viewed its products),
    and how many buyers had bought in
    it by then (popularity). Rows strictly before the cutoff,
    grouped by the identity graph as it was then: the cross-sell model's features. -#}
{% macro customer_category_features(cutoffs) %}
with

{{ activity_at_cutoffs(cutoffs) }}

categories as (

    select distinct category from {{ ref('stg_shop__products') }} where category is not null

),

bought as (

    select cutoff_date, component_id, category, count(distinct order_id) as category_orders
    from lines
    where is_paid and category is not null
    group by cutoff_date, component_id, category

),

primary_categories as (

    -- the category a person has bought most often: who counts as "similar" for popularity
    select cutoff_date, component_id, category as primary_category
    from (
        select
            bought.*,
            row_number() over (
                partition by cutoff_date, component_id order by category_orders desc, category
            ) as category_rank
        from bought
    ) as ranked
    where category_rank = 1

),

viewed as (

    select
        sessions.cutoff_date,
        sessions.component_id,
        views.category,
        count(*) as category_views_last_90d,
        max(views.viewed_at) as category_last_viewed_at
    from sessions
    inner join {{ ref('int_web__product_views') }} as views on views.session_id = sessions.session_id
    where views.viewed_at < cast(sessions.cutoff_date as {{ dbt.type_timestamp() }})
    group by sessions.cutoff_date, sessions.component_id, views.category

),

popularity as (

    -- share of buyers known at the cutoff who had bought in the category
    select
        bought.cutoff_date,
        bought.category,
        count(distinct bought.component_id) * 1.0 / max(buyers.buyers) as category_buyer_share
    from bought
    inner join (
        select cutoff_date, count(distinct component_id) as buyers from bought group by cutoff_date
    ) as buyers on buyers.cutoff_date = bought.cutoff_date
    group by bought.cutoff_date, bought.category

),

final as (

    select
        viewed_or_bought.cutoff_date,
        {{ dbt.hash('viewed_or_bought.component_id') }} as customer_key,
        viewed_or_bought.component_id,
        categories.category,
        primary_categories.primary_category,
        coalesce(bought.category_orders, 0) > 0 as has_bought_category,
        cast(coalesce(viewed.category_views_last_90d, 0) as {{ dbt.type_bigint() }})
            as category_views_last_90d,
        -- null: no view of the category in those 90 days
        cast({{ dbt.datediff('viewed.category_last_viewed_at', 'viewed_or_bought.cutoff_date', 'day') }} as {{ dbt.type_bigint() }})
            as category_view_recency_days,
        cast(coalesce(popularity.category_buyer_share, 0) as {{ type_double() }})
            as category_buyer_share
    from (
        select distinct cutoff_date, component_id from bought
        union
        select distinct cutoff_date, component_id from viewed
    ) as viewed_or_bought
    cross join categories
    left join bought
        on bought.cutoff_date = viewed_or_bought.cutoff_date
        and bought.component_id = viewed_or_bought.component_id
        and bought.category = categories.category
    left join viewed
        on viewed.cutoff_date = viewed_or_bought.cutoff_date
        and viewed.component_id = viewed_or_bought.component_id
        and viewed.category = categories.category
    left join popularity
        on popularity.cutoff_date = viewed_or_bought.cutoff_date
        and popularity.category = categories.category
    left join primary_categories
        on primary_categories.cutoff_date = viewed_or_bought.cutoff_date
        and primary_categories.component_id = viewed_or_bought.component_id

)

select * from final
{% endmacro %}
