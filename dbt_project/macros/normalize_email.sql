{#- Emails arrive normalised from ingestion (nextsale/identifiers.py: Unicode NFKC, no white
    space or invisible characters, lower case), the one definition every comparison shares;
    staging only keeps the rule that an empty string is a missing value. -#}
{% macro normalize_email(column) -%}
    {{ return(adapter.dispatch('normalize_email', 'nextsale')(column)) }}
{%- endmacro %}

{% macro default__normalize_email(column) -%}
    nullif({{ column }}, '')
{%- endmacro %}
