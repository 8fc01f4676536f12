{#- An identity-graph node: '<type>:<value>', or null when the value is missing. Web user ids
    are shop account ids (the site login is the shop account), so both are 'customer_id'. -#}
{% macro identifier_node(identifier_type, column) -%}
    case when {{ column }} is not null then {{ dbt.concat(["'" ~ identifier_type ~ ":'", column]) }} end
{%- endmacro %}
