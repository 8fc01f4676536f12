{#- Each campaign send and holdout member with what the person bought in the attribution window
    after it (var campaign_attribution_days): the same window for both, so that the holdout
    shows what the people sent would have bought anyway. -#}
with

sends as (

    select * from {{ ref('int_campaigns__sends') }}

),

orders as (

    select customer_key, created_at, total_usd
    from {{ ref('int_customers__orders') }}
    where is_paid

),

scoring as (

    select cutoff_date as as_of_date from {{ ref('int_calendar__cutoffs') }} where is_scoring

),

windows as (

    select
        sends.*,
        {{ dbt.dateadd('day', var('campaign_attribution_days'), 'sends.sent_at') }} as window_end
    from sends

),

outcomes as (

    select
        windows.send_id,
        count(orders.created_at) as orders,
        coalesce(sum(orders.total_usd), 0) as revenue_usd
    from windows
    left join orders
        on orders.customer_key = windows.customer_key
        and orders.created_at >= windows.sent_at
        and orders.created_at < windows.window_end
    group by windows.send_id

),

final as (

    select
        -- ids
        windows.send_id,
        windows.campaign_id,
        windows.customer_key,
        -- dimensions
        windows.audience,
        windows.offer_type,
        windows.offer_value,
        windows.channel,
        windows.is_holdout,
        windows.window_end <= cast(scoring.as_of_date as {{ dbt.type_timestamp() }}) as is_window_complete,
        -- numerics
        outcomes.orders,
        outcomes.orders > 0 as converted,
        cast(outcomes.revenue_usd as {{ type_double() }}) as revenue_usd,
        -- timestamps
        windows.sent_at,
        windows.window_end
    from windows
    inner join outcomes on outcomes.send_id = windows.send_id
    cross join scoring

)

select * from final
