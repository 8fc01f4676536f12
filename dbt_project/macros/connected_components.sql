{#- Connected components by a fixed number of label-propagation passes (portable: DuckDB,
    Postgres).

    `nodes` has (partition, node_id, identifier_type), `links` has (partition, node_id,
    linked_node_id) in both directions; components are found within each value of `partition`,
    and component_id is the smallest node id of the component.

    Every (partition, node) is numbered once, in (partition, node_id) order, so that the passes
    join integers, not text, and a component's smallest number is its smallest node. Each pass
    is plain joins and a group by, which DuckDB spills to disk past its memory cap (the
    recursive CTE this replaced held every (node, reachable node) pair in memory and failed at
    1M customers under a 6 GB cap). A pass hooks (a vertex, and the vertex its label names,
    take the smallest label of its neighbours) then shortcuts (each vertex takes its label's
    label), so whole trees of labels move at once: a component of n nodes needs about log2(n)
    passes, not n. var identity_label_passes is enough for var identity_max_component_size;
    the test `links_within_one_component` fails the build if a graph ever needs more. -#}
{% macro connected_components(nodes, links, partition) %}
{%- set passes = var('identity_label_passes') | int -%}
with

vertices as materialized (

    select
        {{ partition }},
        node_id,
        identifier_type,
        row_number() over (order by {{ partition }}, node_id) as vertex
    from {{ nodes }}

),

edges as materialized (

    select own.vertex, near.vertex as linked_vertex
    from {{ links }} as links
    inner join vertices as own
        on own.{{ partition }} = links.{{ partition }} and own.node_id = links.node_id
    inner join vertices as near
        on near.{{ partition }} = links.{{ partition }} and near.node_id = links.linked_node_id

),

labels_0 as materialized (

    select vertex, vertex as label from vertices

),

{% for pass in range(1, passes + 1) %}
pairs_{{ pass }} as materialized (

    select own.label as own_label, edges.vertex, near.label as near_label
    from edges
    inner join labels_{{ pass - 1 }} as own on own.vertex = edges.vertex
    inner join labels_{{ pass - 1 }} as near on near.vertex = edges.linked_vertex

),

hooked_{{ pass }} as materialized (

    select vertex, min(label) as label
    from (
        select vertex, label from labels_{{ pass - 1 }}
        union all
        select vertex, near_label from pairs_{{ pass }}
        union all
        select own_label, near_label from pairs_{{ pass }}
    ) as offered
    group by vertex

),

labels_{{ pass }} as materialized (

    -- a label is a vertex of the same component, never larger than the one it labels
    select hooked.vertex, root.label
    from hooked_{{ pass }} as hooked
    inner join hooked_{{ pass }} as root on root.vertex = hooked.label

),

{% endfor %}
components as (

    select vertices.{{ partition }}, vertices.node_id, vertices.identifier_type,
        smallest.node_id as component_id
    from vertices
    inner join labels_{{ passes }} as labels on labels.vertex = vertices.vertex
    inner join vertices as smallest on smallest.vertex = labels.label

)

select * from components
{% endmacro %}
