with

source as (

    select * from {{ source('crm', 'erasure_requests') }}

),

renamed as (

    select
        {{ normalize_email('email') }} as email,
        {{ to_utc('requested_at') }} as requested_at
    from source

),

-- a person may ask more than once; the first request is the one that counts
first_request as (

    select email, min(requested_at) as requested_at
    from renamed
    where email is not null
    group by email

)

select * from first_request
