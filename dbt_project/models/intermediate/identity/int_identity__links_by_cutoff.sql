{#- The identity graph's links at each cutoff: first seen before it, between nodes it keeps.
    Equality joins only (a link joins its own node's cutoffs): inequality joins against the
    cutoff list led DuckDB to a plan that multiplies the graph by itself. -#}
with

nodes as (

    select * from {{ ref('int_identity__nodes_by_cutoff') }}

),

links as (

    select * from {{ ref('int_identity__links') }}

),

graph_links as (

    select a.cutoff_date, links.node_id, links.linked_node_id
    from links
    inner join nodes as a on a.node_id = links.node_id
    inner join nodes as b
        on b.cutoff_date = a.cutoff_date and b.node_id = links.linked_node_id
    where links.first_seen_at < cast(a.cutoff_date as {{ dbt.type_timestamp() }})

)

select * from graph_links
