{#- The edges of the identity graph, in both directions, with when each was first seen. -#}
with

observations as (

    select * from {{ ref('int_identity__observations') }}
    where node_id is not null and linked_node_id is not null

),

both_directions as (

    select node_id, linked_node_id, evidence, seen_at from observations
    union all
    select linked_node_id, node_id, evidence, seen_at from observations

),

links as (

    select
        node_id,
        linked_node_id,
        {{ dbt.split_part('linked_node_id', "':'", 1) }} as linked_identifier_type,
        min(evidence) as evidence,
        min(seen_at) as first_seen_at
    from both_directions
    group by node_id, linked_node_id

)

select * from links
