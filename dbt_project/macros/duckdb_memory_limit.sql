{#- On-run-start: cap DuckDB's memory so that it spills to disk instead of taking up to 80 % of
    the machine's RAM (its default). nextsale exports the cap it computes (NEXTSALE_DUCKDB_MEMORY_LIMIT:
    the variable, else 6 GiB or half the RAM, whichever is less); dbt run by hand without the
    variable takes 6 GiB. Other adapters: nothing to do. -#}
{% macro duckdb_memory_limit() %}
    {%- set limit = env_var('NEXTSALE_DUCKDB_MEMORY_LIMIT', '') or '6GiB' -%}
    {%- if target.type == 'duckdb' -%}
        set memory_limit = '{{ limit }}'
    {%- else -%}
        select 1
    {%- endif -%}
{% endmacro %}
