{#- A stable bucket in [0, buckets) for a text expression: the same input gets the same bucket
    in every run and on every adapter (it comes from md5), so holdout groups never reshuffle. -#}
{% macro hash_bucket(expression, buckets) %}
    {{ return(adapter.dispatch('hash_bucket')(expression, buckets)) }}
{% endmacro %}

{% macro default__hash_bucket(expression, buckets) %}
    mod(('x' || substr(md5({{ expression }}), 1, 8))::bit(32)::bigint & 2147483647, {{ buckets }})
{% endmacro %}

{% macro duckdb__hash_bucket(expression, buckets) %}
    (md5_number({{ expression }}) % {{ buckets }})
{% endmacro %}
