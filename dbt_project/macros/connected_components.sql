{#- Connected components by label propagation in a recursive CTE (portable: DuckDB, Postgres).

    `nodes` has (partition, node_id, identifier_type), `links` has (partition, node_id,
    linked_node_id) in both directions; components are found within each value of `partition`.
    Every node takes the smallest node id it can reach; the rows produced grow with the square of
    component sizes, so callers keep components small. Materialise the inputs as tables: some
    planners (DuckDB's) choose poorly when they are inlined CTEs. -#}
{% macro connected_components(nodes, links, partition) %}
with recursive

reachable ({{ partition }}, node_id, label) as (

    select {{ partition }}, node_id, node_id from {{ nodes }}
    union
    select reachable.{{ partition }}, links.linked_node_id, reachable.label
    from reachable
    inner join {{ links }} as links
        on links.{{ partition }} = reachable.{{ partition }}
        and links.node_id = reachable.node_id

),

components as (

    select
        nodes.{{ partition }},
        nodes.node_id,
        nodes.identifier_type,
        min(reachable.label) as component_id
    from {{ nodes }} as nodes
    inner join reachable
        on reachable.{{ partition }} = nodes.{{ partition }}
        and reachable.node_id = nodes.node_id
    group by nodes.{{ partition }}, nodes.node_id, nodes.identifier_type

)

select * from components
{% endmacro %}
