{#- Raw timestamps carry their offset; the warehouse keeps plain UTC timestamps. -#}
{% macro to_utc(column) -%}
    {{ return(adapter.dispatch('to_utc', 'nextsale')(column)) }}
{%- endmacro %}

{% macro default__to_utc(column) -%}
    cast(({{ column }} at time zone 'UTC') as {{ dbt.type_timestamp() }})
{%- endmacro %}
