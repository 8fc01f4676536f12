{#- The current identity graph (as of the scoring date): one customer_key per person, for every
    identifier in it; the key is the one the person was first given (int_identity__key_assignments).
    Components of cookies alone (visitors never identified) get no key. -#}
with

components as (

    select * from {{ ref('int_identity__current_components') }}

),

sizes as (

    select
        component_id,
        count(*) as component_size,
        sum(case when identifier_type <> 'anonymous_id' then 1 else 0 end) as known_identifiers
    from components
    group by component_id

),

assigned as (

    {{ latest_customer_keys(ref('int_identity__key_assignments')) }}

),

final as (

    select
        components.cutoff_date,
        components.node_id,
        components.identifier_type,
        -- erased people are not in the history: their key is the smallest node's hash
        coalesce(assigned.customer_key, {{ dbt.hash('components.component_id') }}) as customer_key,
        components.component_id,
        sizes.component_size
    from components
    inner join sizes on sizes.component_id = components.component_id
    left join assigned on assigned.node_id = components.node_id
    where sizes.known_identifiers > 0

)

select * from final
