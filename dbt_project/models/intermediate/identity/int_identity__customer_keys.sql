{#- The current identity graph (as of the scoring date): one customer_key per person, for every
    identifier in it. Components of cookies alone (visitors never identified) get no key. -#}
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

final as (

    select
        components.cutoff_date,
        components.node_id,
        components.identifier_type,
        {{ dbt.hash('components.component_id') }} as customer_key,
        components.component_id,
        sizes.component_size
    from components
    inner join sizes on sizes.component_id = components.component_id
    where sizes.known_identifiers > 0

)

select * from final
