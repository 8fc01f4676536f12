{#- a check of the first destination table: the test reads them all, and runs (and fails the
    publication) once they are built -#}
{{ config(meta={'dagster': {'ref': {'name': 'hubspot__contacts'}}}) }}
-- Nobody with do-not-contact or an erasure request is sent an audience or synced anywhere: every
-- destination table (a model with meta.destination, as nextsale.sync.DESTINATIONS lists them).
{%- set destinations = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
    | selectattr('config.meta.destination', 'defined') | list %}
with suppressed as (
    select customer_key, email from {{ ref('int_activation__people') }}
    where coalesce(is_do_not_contact, false) or is_erasure_requested
)
select 'audience' as place, customer_key from {{ ref('audience_members') }}
where is_sendable and customer_key in (select suppressed.customer_key from suppressed)
{%- for model in destinations %}
union all
select '{{ model.name }}', {{ model.config.meta.destination.key }} from {{ ref(model.name) }}
where {{ model.config.meta.destination.email }} in (select suppressed.email from suppressed)
{%- endfor %}
{#- graph is empty while dbt parses, so the refs it needs then are spelled out here;
    tests/test_definitions.py checks they are the destination models, and those the registry -#}
-- depends_on: {{ ref('hubspot__contacts') }}
-- depends_on: {{ ref('klaviyo__profiles') }}
-- depends_on: {{ ref('salesforce__contacts') }}
