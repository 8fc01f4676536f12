{#- The nodes of the identity graph: one row per identifier, when it was first seen, and why it is
    left out of the graph when a rule says so (test, example and role addresses; CRM contacts
    that only carry such an address). Shared identifiers, found from evidence, are excluded per
    cutoff by the identity_components macro. -#}
with

observations as (

    select * from {{ ref('int_identity__observations') }}

),

nodes as (

    select node_id, seen_at from observations where node_id is not null
    union all
    select linked_node_id, seen_at from observations where linked_node_id is not null

),

identifiers as (

    select
        node_id,
        {{ dbt.split_part('node_id', "':'", 1) }} as identifier_type,
        {{ dbt.right('node_id', dbt.length('node_id') ~ ' - ' ~ dbt.position("':'", 'node_id')) }}
            as identifier_value,
        min(seen_at) as first_seen_at
    from nodes
    group by node_id

),

email_rules as (

    select
        node_id,
        {{ dbt.split_part('identifier_value', "'@'", 1) }} as mailbox,
        {{ dbt.split_part('identifier_value', "'@'", 2) }} as domain
    from identifiers
    where identifier_type = 'email'

),

excluded_emails as (

    select
        node_id,
        case
            when mailbox = 'test' or mailbox like 'test+%' or mailbox like 'test.%'
                then 'test address'
            when domain in ({{ "'" ~ var('identity_throwaway_domains') | join("', '") ~ "'" }})
                then 'example or throwaway domain'
            when mailbox in ({{ "'" ~ var('identity_role_mailboxes') | join("', '") ~ "'" }})
                then 'role address shared by colleagues'
        end as exclusion_reason
    from email_rules

),

-- a CRM contact whose every email is excluded is a test or junk record
junk_contacts as (

    select
        observations.node_id,
        'CRM contact with only excluded emails' as exclusion_reason
    from observations
    left join excluded_emails on excluded_emails.node_id = observations.linked_node_id
    where observations.evidence = 'crm contact'
    group by observations.node_id
    having sum(case when excluded_emails.exclusion_reason is null then 1 else 0 end) = 0

),

final as (

    select
        identifiers.node_id,
        identifiers.identifier_type,
        identifiers.identifier_value,
        identifiers.first_seen_at,
        coalesce(excluded_emails.exclusion_reason, junk_contacts.exclusion_reason)
            as exclusion_reason
    from identifiers
    left join excluded_emails on excluded_emails.node_id = identifiers.node_id
    left join junk_contacts on junk_contacts.node_id = identifiers.node_id

)

select * from final
