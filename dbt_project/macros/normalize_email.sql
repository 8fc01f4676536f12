{#- Emails compare case- and space-insensitively; empty strings are missing values. -#}
{% macro normalize_email(column) -%}
    {{ return(adapter.dispatch('normalize_email', 'nextsale')(column)) }}
{%- endmacro %}

{% macro default__normalize_email(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}
