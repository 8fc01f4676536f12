{#- A 64-bit float (type_double() is 32-bit on some adapters, too coarse for money). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'nextsale')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}
