{#- The identity graph as it was known strictly before each cutoff, so that features at a cutoff
    never use identity evidence from after it.

    identity_graph_nodes: identifiers first seen before the cutoff, less those excluded by rule
    and those that by then are tied to more shop accounts (or CRM contacts) than one person has
    (a shared cookie, a family email). With `sample`, only its node_ids are kept; whether a node
    is shared is still judged on all of its links.
    identity_graph_links: links first seen before the cutoff, between nodes kept there. -#}
{% macro identity_graph_nodes(cutoffs, sample=none) %}
with

cutoffs as (

    select distinct cutoff_date, cast(cutoff_date as {{ dbt.type_timestamp() }}) as cutoff_at
    from {{ cutoffs }}

),

identifiers as (

    select identifiers.node_id, identifiers.identifier_type, identifiers.first_seen_at
    from {{ ref('int_identity__identifiers') }} as identifiers
    {% if sample %}inner join {{ sample }} as sample on sample.node_id = identifiers.node_id{% endif %}
    where identifiers.exclusion_reason is null

),

nodes as (

    select cutoffs.cutoff_date, identifiers.node_id, identifiers.identifier_type
    from identifiers
    inner join cutoffs on identifiers.first_seen_at < cutoffs.cutoff_at

),

shared as (

    -- a link's far end was seen by the time the link was, so it is in the graph at that cutoff
    -- unless a rule excludes it
    select cutoffs.cutoff_date, links.node_id
    from {{ ref('int_identity__links') }} as links
    inner join identifiers on identifiers.node_id = links.node_id
    inner join {{ ref('int_identity__identifiers') }} as linked
        on linked.node_id = links.linked_node_id and linked.exclusion_reason is null
    inner join cutoffs on links.first_seen_at < cutoffs.cutoff_at
    group by cutoffs.cutoff_date, links.node_id
    having
        count(distinct case when links.linked_identifier_type = 'customer_id'
                            then links.linked_node_id end)
            > {{ var('identity_max_accounts_per_identifier') }}
        or count(distinct case when links.linked_identifier_type = 'contact_id'
                               then links.linked_node_id end)
            > {{ var('identity_max_contacts_per_email') }}

)

select nodes.cutoff_date, nodes.node_id, nodes.identifier_type
from nodes
left join shared on shared.cutoff_date = nodes.cutoff_date and shared.node_id = nodes.node_id
where shared.node_id is null
{% endmacro %}

{#- A link joins its own node's cutoffs by equality, and its far end is a semi-join: joined
    as a table on (cutoff, node), DuckDB paired the two node lists on the cutoff alone first,
    every node with every node (inequality joins against the cutoff list did the same). -#}
{% macro identity_graph_links(nodes) %}
select a.cutoff_date, links.node_id, links.linked_node_id
from {{ ref('int_identity__links') }} as links
inner join {{ nodes }} as a on a.node_id = links.node_id
where links.first_seen_at < cast(a.cutoff_date as {{ dbt.type_timestamp() }})
  and exists (
      select 1 from {{ nodes }} as b
      where b.cutoff_date = a.cutoff_date and b.node_id = links.linked_node_id
  )
{% endmacro %}
