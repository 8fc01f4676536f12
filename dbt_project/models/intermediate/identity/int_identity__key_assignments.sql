{#- The customer_key each person was given, kept from run to run, so that a key never changes
    under a person: a new cookie, a second email or a login joins the person's component and
    keeps its key. Append-only: a row when a node is first given a key, and when it moves to
    another (when two known people merge, the oldest key survives and the other's nodes move to
    it; int_identity__key_merges records the retired key). A key a component cannot keep (its
    nodes have gone mostly elsewhere) is the smallest node's hash, as before there was a history.

    Erased people are neither recorded nor kept: their rows go on every run (post-hook). A full
    refresh forgets the history, and every key starts again from the smallest node's hash. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    post_hook="delete from {{ this }} where node_id in (select node_id from {{ ref('int_identity__erased_nodes') }})"
) }}

with

components as (

    select * from {{ ref('int_identity__current_components') }}

),

people as (

    -- components of cookies alone are visitors, not people: they get no key
    select component_id
    from components
    group by component_id
    having sum(case when identifier_type <> 'anonymous_id' then 1 else 0 end) > 0

),

nodes as (

    select components.node_id, components.component_id
    from components
    inner join people on people.component_id = components.component_id
    where components.node_id not in (
        select erased.node_id from {{ ref('int_identity__erased_nodes') }} as erased
    )

),

{% if is_incremental() %}
history as (

    select node_id, customer_key, assigned_at from {{ this }}

),
{% else %}
history as (

    select
        cast(null as {{ dbt.type_string() }}) as node_id,
        cast(null as {{ dbt.type_string() }}) as customer_key,
        cast(null as {{ dbt.type_timestamp() }}) as assigned_at
    where 1 = 0

),
{% endif %}

latest as (

    {{ latest_customer_keys('history') }}

),

born as (

    select customer_key, min(assigned_at) as born_at from history group by customer_key

),

claims as (

    select nodes.component_id, latest.customer_key, count(*) as nodes_with_key
    from nodes
    inner join latest on latest.node_id = nodes.node_id
    group by nodes.component_id, latest.customer_key

),

-- a key stays with the component that holds most of its nodes (one, if a person split)
held as (

    select component_id, customer_key
    from (
        select
            component_id,
            customer_key,
            row_number() over (
                partition by customer_key order by nodes_with_key desc, component_id asc
            ) as holder_rank
        from claims
    ) as ranked
    where holder_rank = 1

),

-- a component holding several keys (people merged) keeps the oldest
survivors as (

    select component_id, customer_key
    from (
        select
            held.component_id,
            held.customer_key,
            row_number() over (
                partition by held.component_id order by born.born_at, held.customer_key
            ) as survivor_rank
        from held
        inner join born on born.customer_key = held.customer_key
    ) as ranked
    where survivor_rank = 1

),

keys as (

    select
        components.component_id,
        coalesce(
            survivors.customer_key,
            -- a new person; the smallest node's hash, unless some earlier person had that key
            case
                when {{ dbt.hash('components.component_id') }} in (select born.customer_key from born)
                    then {{ dbt.hash(dbt.concat(['components.component_id', "'|" ~ run_started_at.strftime('%Y-%m-%dT%H:%M:%S') ~ "'"])) }}
                else {{ dbt.hash('components.component_id') }}
            end
        ) as customer_key
    from (select distinct component_id from nodes) as components
    left join survivors on survivors.component_id = components.component_id

),

final as (

    select
        nodes.node_id,
        keys.customer_key,
        latest.customer_key as previous_customer_key,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
            as assigned_at
    from nodes
    inner join keys on keys.component_id = nodes.component_id
    left join latest on latest.node_id = nodes.node_id
    where latest.customer_key is null or latest.customer_key <> keys.customer_key

)

select * from final
