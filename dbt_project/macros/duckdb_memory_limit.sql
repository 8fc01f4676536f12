{#- On-run-start: cap DuckDB's memory at NEXTSALE_DUCKDB_MEMORY_LIMIT (e.g. 6GB) when it is set;
    past the cap DuckDB spills to disk instead of taking up to 80 % of the machine's RAM, its
    default. Other adapters, or no variable: nothing to do. -#}
{% macro duckdb_memory_limit() %}
    {%- set limit = env_var('NEXTSALE_DUCKDB_MEMORY_LIMIT', '') -%}
    {%- if target.type == 'duckdb' and limit -%}
        set memory_limit = '{{ limit }}'
    {%- else -%}
        select 1
    {%- endif -%}
{% endmacro %}
