{#- The activation tables the syncs send from are built and tested as candidates (schema
    activation_candidates), then published together: every published table waits for every
    candidate, so `dbt build` skips all of them when any candidate's test fails, and the syncs
    keep the last build that passed, with its watermark. -#}
{% macro activation_candidates() %}
    {{ return(['audience_members', 'hubspot__contacts', 'klaviyo__profiles', 'salesforce__contacts', 'consent_watermark']) }}
{% endmacro %}

{% macro publish_candidate(name) %}
{{ config(alias=name) }}
{%- for candidate in activation_candidates() if candidate != name %}
-- depends_on: {{ ref(candidate) }}
{%- endfor %}
select * from {{ ref(name) }}
{% endmacro %}
