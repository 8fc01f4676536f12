{#- Every identifier of a person who asked to be erased (the whole component of the email named
    in the request), so that nothing kept from run to run holds them. -#}
with

components as (

    select * from {{ ref('int_identity__current_components') }}

),

erased_components as (

    select distinct components.component_id
    from components
    inner join {{ ref('stg_crm__erasure_requests') }} as erasures
        on components.node_id = {{ identifier_node('email', 'erasures.email') }}

)

select components.node_id
from components
inner join erased_components on erased_components.component_id = components.component_id
