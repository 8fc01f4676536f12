with

source as (

    select * from {{ source('campaigns', 'sends') }}

),

renamed as (

    select
        -- ids
        trim(send_id) as send_id,
        trim(campaign_id) as campaign_id,
        {{ normalize_email('email') }} as email,
        nullif(trim(contact_id), '') as contact_id,
        nullif(trim(customer_id), '') as customer_id,
        -- dimensions
        trim(audience) as audience,
        lower(trim(offer_type)) as offer_type,
        nullif(trim(offer_value), '') as offer_value,
        lower(trim(channel)) as channel,
        cast(is_holdout as boolean) as is_holdout,
        -- timestamps
        {{ to_utc('sent_at') }} as sent_at,
        row_number() over (partition by trim(send_id) order by _loaded_at desc) as version_rank
    from source

),

-- a send exported twice keeps its latest version
latest as (

    select
        send_id, campaign_id, email, contact_id, customer_id, audience, offer_type, offer_value, channel,
        is_holdout, sent_at
    from renamed
    where version_rank = 1

)

select * from latest
