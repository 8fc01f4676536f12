{#- Keys retired because two known people turned out to be one: each retired key, the key that
    survived it (where most of its identifiers are now) and when. Destinations keyed on
    customer_key remove or merge the retired record (see nextsale/sync). -#}
with

assignments as (

    select * from {{ ref('int_identity__key_assignments') }}

),

current_keys as (

    select node_id, customer_key from {{ ref('int_identity__customer_keys') }}

),

moves as (

    select
        assignments.previous_customer_key as retired_customer_key,
        current_keys.customer_key as surviving_customer_key,
        min(assignments.assigned_at) as merged_at,
        count(*) as identifiers_moved
    from assignments
    inner join current_keys on current_keys.node_id = assignments.node_id
    where assignments.previous_customer_key is not null
      and assignments.previous_customer_key not in (
          select still_held.customer_key from current_keys as still_held
      )
    group by assignments.previous_customer_key, current_keys.customer_key

),

final as (

    select retired_customer_key, surviving_customer_key, merged_at
    from (
        select
            moves.*,
            row_number() over (
                partition by retired_customer_key
                order by identifiers_moved desc, surviving_customer_key asc
            ) as rank
        from moves
    ) as ranked
    where rank = 1

)

select * from final
