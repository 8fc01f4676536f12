{#- Every identifier of a person who asked to be erased (the whole component of any identifier the
    request names), so that nothing kept from run to run holds them and every destination record
    under any of their addresses is deleted. -#}
with

components as (

    select * from {{ ref('int_identity__current_components') }}

),

erased_components as (

    select distinct components.component_id
    from components
    inner join {{ ref('int_identity__erasure_nodes') }} as named
        on named.node_id = components.node_id

)

select components.node_id, components.identifier_type
from components
inner join erased_components on erased_components.component_id = components.component_id
