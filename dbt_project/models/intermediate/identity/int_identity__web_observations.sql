{#- The identifiers a web event ties together: its cookie to the logged-in account, and to an
    email given in a form. One row per (event, pair); the largest part of the identity
    observations, so it is built incrementally: a daily run adds the events staged since the
    last build and drops the rows of event versions no longer staged (macros/latest_versions.sql). -#}
{{ config(
    materialized='incremental',
    unique_key='event_id',
    incremental_strategy='delete+insert',
    on_schema_change='sync_all_columns',
    post_hook="{{ delete_versions_no_longer_loaded(ref('stg_web__events')) }}"
) }}

with

events as (

    select * from {{ ref('stg_web__events') }}
    {% if builds_increment() %}
    where event_id in ({{ keys_to_refresh(ref('stg_web__events'), 'event_id') }})
    {% endif %}

),

observations as (

    select
        {{ identifier_node('anonymous_id', 'anonymous_id') }} as node_id,
        {{ identifier_node('customer_id', 'user_id') }} as linked_node_id,
        'web login' as evidence,
        event_at as seen_at,
        event_id,
        _source_file,
        _row_number,
        _loaded_at
    from events

    union all

    select
        {{ identifier_node('anonymous_id', 'anonymous_id') }},
        {{ identifier_node('email', 'email') }},
        'web form',
        event_at,
        event_id,
        _source_file,
        _row_number,
        _loaded_at
    from events
    where email is not null

)

select * from observations where node_id is not null or linked_node_id is not null
