{#- Product views with the product's family and tier (the upsell signal: looking up a tier).
    Incremental, as the events are (macros/latest_versions.sql): a daily run adds the views
    staged since the last build and those of a product whose category, family or tier changed,
    and drops the views of event versions no longer staged or of products no longer listed. -#}
{{ config(
    materialized='incremental',
    unique_key='event_id',
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    post_hook=[
        "{{ delete_versions_no_longer_loaded(ref('stg_web__events')) }}",
        "{% if is_incremental() %}delete from {{ this }} where product_id not in (select product_id from {{ ref('stg_shop__products') }}){% else %}select 1{% endif %}",
    ]
) }}

with

events as (

    select * from {{ ref('stg_web__events') }}
    where event_name = 'view_item' and product_id is not null
    {% if builds_increment() %}
      and event_id in (
          {{ keys_to_refresh(ref('stg_web__events'), 'event_id') }}
          union
          select kept.event_id
          from {{ this }} as kept
          inner join {{ ref('stg_shop__products') }} as products
              on products.product_id = kept.product_id
          where products.category is distinct from kept.category
             or products.family is distinct from kept.family
             or products.tier is distinct from kept.tier
      )
    {% endif %}

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

final as (

    select
        events.event_id,
        events.session_id,
        events.product_id,
        products.category,
        products.family,
        products.tier,
        events.event_at as viewed_at,
        -- the raw row this view is (incremental builds compare it with what is staged)
        events._source_file,
        events._row_number,
        events._loaded_at
    from events
    inner join products on products.product_id = events.product_id

)

select * from final
