{#- Klaviyo profiles, imported by email: Klaviyo's own attributes plus nextsale's custom profile
    properties. List membership comes from audience_members (email audiences, sendable only). -#}
with

people as (

    {{ syncable_people() }}

),

final as (

    select
        customer_key as external_id,
        email,
        phone as phone_number,
        first_name,
        last_name,
        {{ activation_columns('snake') }}
    from people

)

select * from final
