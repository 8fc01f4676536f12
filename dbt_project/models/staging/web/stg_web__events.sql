{#- A table, unlike the other staging models: every web model reads the events (sessions twice),
    and as a view each read deduplicated tens of millions of rows again. -#}
{{ config(materialized='table') }}

with

source as (

    select * from {{ source('web', 'events') }}

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

        row_number() over (
            partition by event_id order by _loaded_at desc, _source_file desc, _row_number desc
        ) as version_rank

    from source

),

deduplicated as (

    select
        event_id,
        session_id,
        anonymous_id,
        user_id,
        product_id,
        event_name,
        page_path,
        email,
        utm_source,
        utm_medium,
        utm_campaign,
        device,
        country_code,
        event_at
    from renamed
    where version_rank = 1

)

select * from deduplicated
