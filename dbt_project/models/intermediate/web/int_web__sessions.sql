{#- One row per web session: who (cookie, logged-in account, email given in a form), when,
    where from (first event's UTM) and what happened (views, carts, purchase).

    Incremental: a daily run groups again only the sessions that gained an event or a newer
    version of one since the last build (their latest load is later), or whose event count
    changed (an event moved to another session or went with a re-delivered file); sessions left
    with no event are deleted (post-hook). -#}
{{ config(
    materialized='incremental',
    unique_key='session_id',
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    post_hook="{% if is_incremental() %}delete from {{ this }} where session_id not in (select session_id from {{ ref('stg_web__events') }}){% else %}select 1{% endif %}"
) }}

with

events as (

    select * from {{ ref('stg_web__events') }}

),

{% if builds_increment(['events', '_loaded_at']) %}
current_counts as (

    select session_id, count(*) as events
    from events
    group by session_id

),

changed as (

    select session_id
    from events
    where _loaded_at > (select max(_loaded_at) from {{ this }})

    union

    select kept.session_id
    from {{ this }} as kept
    left join current_counts on current_counts.session_id = kept.session_id
    where current_counts.events is null or current_counts.events <> kept.events

),

events_to_group as (

    select * from events where session_id in (select session_id from changed)

),
{% else %}
events_to_group as (

    select * from events

),
{% endif %}

sessions as (

    select
        session_id,
        min(anonymous_id) as anonymous_id,
        max(user_id) as user_id,
        max(email) as email,
        min(event_at) as started_at,
        sum(case when event_name = 'view_item' then 1 else 0 end) as product_views,
        sum(case when event_name = 'add_to_cart' then 1 else 0 end) as carts,
        max(case when event_name = 'purchase' then 1 else 0 end) as purchases,
        {{ first_by('utm_medium', ['event_at', 'event_id']) }} as first_utm_medium,
        {{ first_by('utm_source', ['event_at', 'event_id']) }} as first_utm_source,
        count(*) as events,
        max(_loaded_at) as _loaded_at
    from events_to_group
    group by session_id

),

final as (

    select
        session_id,
        anonymous_id,
        user_id,
        email,
        started_at,
        product_views,
        carts,
        purchases > 0 as has_purchase,
        carts > 0 and purchases = 0 as is_abandoned_cart,
        coalesce(first_utm_medium, 'direct') as utm_medium,
        coalesce(first_utm_source, 'direct') as utm_source,
        -- bookkeeping of the incremental build
        events,
        _loaded_at
    from sessions

)

select * from final
