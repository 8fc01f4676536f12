{#- One row per identifier named in an erasure request: a request names the person by an email, a
    phone, a shop customer id or a CRM contact id (ingestion normalised each), and the identity
    graph finds everything else they have had (int_identity__erasure_nodes). -#}
with

source as (

    select * from {{ source('crm', 'erasure_requests') }}

),

renamed as (

    select
        {{ normalize_email('email') }} as email,
        nullif(regexp_replace(phone, '[^0-9]', '', 'g'), '') as phone_digits,
        nullif(shop_customer_id, '') as shop_customer_id,
        nullif(contact_id, '') as contact_id,
        {{ to_utc('requested_at') }} as requested_at
    from source

),

identifiers as (

    select 'email' as identifier_type, email as identifier_value, requested_at
    from renamed where email is not null
    union all
    select 'phone', phone_digits, requested_at from renamed where phone_digits is not null
    union all
    select 'customer_id', shop_customer_id, requested_at from renamed where shop_customer_id is not null
    union all
    select 'contact_id', contact_id, requested_at from renamed where contact_id is not null

),

-- a person may ask more than once; the first request is the one that counts
first_request as (

    select identifier_type, identifier_value, min(requested_at) as requested_at
    from identifiers
    group by identifier_type, identifier_value

)

select
    identifier_type,
    identifier_value,
    case when identifier_type = 'email' then identifier_value end as email,
    requested_at
from first_request
