{#- Report: identifiers left out of the current identity graph, and why. -#}
with

identifiers as (

    select * from {{ ref('int_identity__identifiers') }}

),

current_components as (

    -- every identifier in the current graph, people and never-identified visitors alike
    select node_id from {{ ref('int_identity__current_components') }}

),

as_of as (

    select cast(cutoff_date as {{ dbt.type_timestamp() }}) as as_of_at
    from {{ ref('int_calendar__cutoffs') }} where is_scoring

),

links as (

    select
        node_id,
        count(distinct case when linked_identifier_type = 'customer_id' then linked_node_id end)
            as linked_accounts,
        count(distinct case when linked_identifier_type = 'contact_id' then linked_node_id end)
            as linked_contacts,
        count(*) as linked_identifiers
    from {{ ref('int_identity__links') }}
    group by node_id

),

final as (

    select
        identifiers.node_id,
        identifiers.identifier_type,
        identifiers.identifier_value,
        coalesce(
            identifiers.exclusion_reason,
            'shared: tied to ' || cast(coalesce(links.linked_accounts, 0) as {{ dbt.type_string() }})
            || ' shop accounts and ' || cast(coalesce(links.linked_contacts, 0) as {{ dbt.type_string() }})
            || ' CRM contacts'
        ) as exclusion_reason,
        coalesce(links.linked_identifiers, 0) as linked_identifiers
    from identifiers
    cross join as_of
    left join current_components on current_components.node_id = identifiers.node_id
    left join links on links.node_id = identifiers.node_id
    where identifiers.first_seen_at < as_of.as_of_at
      and current_components.node_id is null

)

select * from final
