{#- The value of `column` on the first row of a group in `order_by` order, as an aggregate: a
    window per group ranked every row of the group first and spilled poorly (web sessions at 1M
    customers: 29.6 s under a 6 GB cap, this 14.4 s). NULL values count, as a window's would. -#}
{% macro first_by(column, order_by) -%}
    {{ return(adapter.dispatch('first_by', 'nextsale')(column, order_by)) }}
{%- endmacro %}

{% macro default__first_by(column, order_by) -%}
    (array_agg({{ column }} order by {{ order_by | join(', ') }}))[1]
{%- endmacro %}

{% macro duckdb__first_by(column, order_by) -%}
    arg_min_null({{ column }}, ({{ order_by | join(', ') }}))
{%- endmacro %}
