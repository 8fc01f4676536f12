{#- The identity graph's nodes as known strictly before each cutoff, so that features at a cutoff
    never use identity evidence from after it. Left out: identifiers excluded by rule, and those
    that by then are tied to more shop accounts (or CRM contacts) than one person has: a shared
    cookie, a family email. -#}
with

cutoffs as (

    select distinct
        cutoff_date,
        cast(cutoff_date as {{ dbt.type_timestamp() }}) as cutoff_at
    from {{ ref('int_calendar__cutoffs') }}

),

nodes as (

    select cutoffs.cutoff_date, identifiers.node_id, identifiers.identifier_type
    from {{ ref('int_identity__identifiers') }} as identifiers
    inner join cutoffs on identifiers.first_seen_at < cutoffs.cutoff_at
    where identifiers.exclusion_reason is null

),

links as (

    select cutoffs.cutoff_date, links.node_id, links.linked_node_id, links.linked_identifier_type
    from {{ ref('int_identity__links') }} as links
    inner join cutoffs on links.first_seen_at < cutoffs.cutoff_at

),

shared as (

    select links.cutoff_date, links.node_id
    from links
    inner join nodes as linked
        on linked.cutoff_date = links.cutoff_date and linked.node_id = links.linked_node_id
    group by links.cutoff_date, links.node_id
    having
        count(distinct case when links.linked_identifier_type = 'customer_id'
                            then links.linked_node_id end)
            > {{ var('identity_max_accounts_per_identifier') }}
        or count(distinct case when links.linked_identifier_type = 'contact_id'
                               then links.linked_node_id end)
            > {{ var('identity_max_contacts_per_email') }}

),

graph_nodes as (

    select nodes.cutoff_date, nodes.node_id, nodes.identifier_type
    from nodes
    left join shared on shared.cutoff_date = nodes.cutoff_date and shared.node_id = nodes.node_id
    where shared.node_id is null

)

select * from graph_nodes
