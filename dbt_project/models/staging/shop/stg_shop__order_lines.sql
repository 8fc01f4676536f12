{#- A table, unlike the other staging models: an order has several lines and the lines are the
    largest shop source. Incremental: a daily run ranks only the lines with rows loaded since the
    last build (macros/latest_versions.sql). -#}
{{ config(
    materialized='incremental',
    unique_key=['order_id', 'line_id'],
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    post_hook="{{ delete_versions_no_longer_loaded(source('shop', 'order_lines')) }}"
) }}

with

source as (

    select * from {{ source('shop', 'order_lines') }}
    {% if builds_increment() %}
    where (order_id, line_id) in ({{ keys_to_refresh(source('shop', 'order_lines'), 'order_id, line_id') }})
    {% endif %}

),

latest as (

    select * from {{ latest_versions('source', ['order_id', 'line_id']) }} as latest

),

renamed as (

    select
        -- ids
        order_id,
        line_id,
        product_id,

        -- numerics (order currency)
        quantity,
        unit_price,
        coalesce(discount, 0) as discount,
        quantity * unit_price - coalesce(discount, 0) as line_amount,

        -- the raw row this version is (incremental builds compare it with what is loaded)
        _source_file,
        _row_number,
        _loaded_at

    from latest

)

select * from renamed
