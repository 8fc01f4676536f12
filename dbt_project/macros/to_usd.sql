{#- An amount in the reporting currency (USD). The amount is widened before the product: two
    DECIMAL(18, s) operands multiply within 18 digits on DuckDB, so 100 million at a rate of
    six decimals overflowed. Ingestion bounds every amount (contracts.MAX_AMOUNT), and within
    that bound the result fits the project's numeric type. -#}
{% macro to_usd(amount, rate) -%}
    cast(cast({{ amount }} as decimal(28, 6)) * {{ rate }} as {{ dbt.type_numeric() }})
{%- endmacro %}
