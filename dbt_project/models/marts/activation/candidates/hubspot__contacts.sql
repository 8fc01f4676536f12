{#- HubSpot contacts, upserted by email: default properties by their HubSpot names, nextsale's
    as snake_case custom properties (created by the sync if missing). -#}
with

people as (

    {{ syncable_people() }}

),

audiences as (

    select customer_key as member_key, {{ dbt.listagg('audience', "';'", "order by audience") }} as nextsale_audiences
    from {{ ref('audience_members') }}
    where is_sendable and channel = 'email'
    group by customer_key

),

final as (

    select
        people.customer_key as nextsale_customer_key,
        people.email,
        people.first_name as firstname,
        people.last_name as lastname,
        people.phone,
        audiences.nextsale_audiences,
        {{ activation_columns('snake') }}
    from people
    left join audiences on audiences.member_key = people.customer_key

)

select * from final
