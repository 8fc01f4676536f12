{#- A float rounded to `digits` decimals, still a float. Postgres rounds only `numeric`; DuckDB
    rounds floats directly. -#}
{% macro round_to(expression, digits) -%}
    {{ return(adapter.dispatch('round_to', 'nextsale')(expression, digits)) }}
{%- endmacro %}

{% macro default__round_to(expression, digits) -%}
    cast(round(cast({{ expression }} as numeric), {{ digits }}) as {{ type_double() }})
{%- endmacro %}

{% macro duckdb__round_to(expression, digits) -%}
    round({{ expression }}, {{ digits }})
{%- endmacro %}
