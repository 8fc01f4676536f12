{#- On-run-start: cap DuckDB's memory so that it spills to disk instead of taking up to 80 % of
    the machine's RAM (its default). nextsale passes the cap it computes as the var
    duckdb_memory_limit (NEXTSALE_DUCKDB_MEMORY_LIMIT, else 6 GiB or half the RAM, whichever is
    less); dbt run by hand takes the environment variable, else 6 GiB. Other adapters: nothing
    to do. -#}
{% macro duckdb_memory_limit() %}
    {%- set limit = var('duckdb_memory_limit', '')
        or env_var('NEXTSALE_DUCKDB_MEMORY_LIMIT', '') or '6GiB' -%}
    {%- if target.type == 'duckdb' -%}
        set memory_limit = '{{ limit }}'
    {%- else -%}
        select 1
    {%- endif -%}
{% endmacro %}
