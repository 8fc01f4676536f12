{#- The identity-graph nodes an erasure request names: its email, shop customer id or contact id
    directly, and a phone through every CRM contact that has ever had it (phones are not nodes of
    the graph). The person is then everything connected to any of these. -#}
with

requests as (

    select * from {{ ref('stg_crm__erasure_requests') }}

),

by_phone as (

    select distinct {{ identifier_node('contact_id', 'versions.contact_id') }} as node_id
    from {{ ref('stg_crm__contact_versions') }} as versions
    inner join requests
        on requests.identifier_type = 'phone'
        and regexp_replace(versions.phone, '[^0-9]', '', 'g') = requests.identifier_value

)

select {{ dbt.concat(['identifier_type', "':'", 'identifier_value']) }} as node_id
from requests
where identifier_type <> 'phone'
union
select node_id from by_phone
