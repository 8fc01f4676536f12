{#- One row per web session: who (cookie, logged-in account, email given in a form), when,
    where from (first event's UTM) and what happened (views, carts, purchase). -#}
with

events as (

    select * from {{ ref('stg_web__events') }}

),

first_events as (

    select
        session_id,
        utm_source,
        utm_medium,
        row_number() over (partition by session_id order by event_at, event_id) as event_rank
    from events

),

sessions as (

    select
        session_id,
        min(anonymous_id) as anonymous_id,
        max(user_id) as user_id,
        max(email) as email,
        min(event_at) as started_at,
        sum(case when event_name = 'view_item' then 1 else 0 end) as product_views,
        sum(case when event_name = 'add_to_cart' then 1 else 0 end) as carts,
        max(case when event_name = 'purchase' then 1 else 0 end) as purchases
    from events
    group by session_id

),

final as (

    select
        sessions.session_id,
        sessions.anonymous_id,
        sessions.user_id,
        sessions.email,
        sessions.started_at,
        sessions.product_views,
        sessions.carts,
        sessions.purchases > 0 as has_purchase,
        sessions.carts > 0 and sessions.purchases = 0 as is_abandoned_cart,
        coalesce(first_events.utm_medium, 'direct') as utm_medium,
        coalesce(first_events.utm_source, 'direct') as utm_source
    from sessions
    left join first_events
        on first_events.session_id = sessions.session_id and first_events.event_rank = 1

)

select * from final
