{#- A stable bucket in [0, buckets) for a text expression: the first 32 bits of its md5, top bit
    cleared. The same input gets the same bucket in every run and on every adapter (both
    versions below compute exactly this; tests/test_activation.py checks them against Python's
    hashlib), so holdout groups never reshuffle when the warehouse changes. -#}
{% macro hash_bucket(expression, buckets) %}
    {{ return(adapter.dispatch('hash_bucket')(expression, buckets)) }}
{% endmacro %}

{% macro default__hash_bucket(expression, buckets) %}
    mod(('x' || substr(md5({{ expression }}), 1, 8))::bit(32)::bigint & 2147483647, {{ buckets }})
{% endmacro %}

{% macro duckdb__hash_bucket(expression, buckets) %}
    ((('0x' || substr(md5({{ expression }}), 1, 8))::bigint & 2147483647) % {{ buckets }})
{% endmacro %}
