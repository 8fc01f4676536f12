{#- A table, unlike the other staging models: every web model reads the events, and as a view
    each read deduplicated tens of millions of rows again. Incremental: a daily run ranks only
    the events with rows loaded since the last build (macros/latest_versions.sql). -#}
{{ config(
    materialized='incremental',
    unique_key='event_id',
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    post_hook="{{ delete_versions_no_longer_loaded(source('web', 'events')) }}"
) }}

with

source as (

    select * from {{ source('web', 'events') }}
    {% if builds_increment() %}
    where event_id in ({{ keys_to_refresh(source('web', 'events'), 'event_id') }})
    {% endif %}

),

latest as (

    select * from {{ latest_versions('source', 'event_id') }} as latest

),

renamed as (

    select
        -- ids
        event_id,
        session_id,
        anonymous_id,
        nullif(trim(user_id), '') as user_id,
        nullif(trim(product_id), '') as product_id,

        -- dimensions
        lower(trim(event_name)) as event_name,
        page_path,
        {{ normalize_email('email') }} as email,
        lower(utm_source) as utm_source,
        lower(utm_medium) as utm_medium,
        utm_campaign,
        lower(device) as device,
        upper(country) as country_code,

        -- timestamps
        {{ to_utc('event_ts') }} as event_at,

        -- the raw row this version is (incremental builds compare it with what is loaded)
        _source_file,
        _row_number,
        _loaded_at

    from latest

)

select * from renamed
