{#- Each node's current key in a relation of key assignments: the latest one given. -#}
{% macro latest_customer_keys(assignments) %}
select node_id, customer_key
from (
    select
        node_id,
        customer_key,
        row_number() over (partition by node_id order by assigned_at desc) as recency
    from {{ assignments }}
) as ranked
where recency = 1
{% endmacro %}
