{#- Converts money to the reporting currency (USD) through the currency_rates seed: the one join
    staging allows itself, because every downstream model needs comparable amounts. -#}
with

source as (

    select * from {{ source('shop', 'orders') }}

),

rates as (

    select * from {{ ref('currency_rates') }}

),

renamed as (

    select
        -- ids
        source.order_id,
        nullif(trim(source.customer_id), '') as customer_id,

        -- dimensions
        {{ normalize_email('source.email') }} as email,
        upper(trim(source.currency)) as currency,
        lower(trim(source.status)) as order_status,
        lower(trim(source.status)) = 'paid' as is_paid,

        -- numerics (order currency)
        source.subtotal,
        source.discount,
        source.shipping,
        source.total,

        -- numerics (reporting currency)
        rates.usd_per_unit,
        {{ to_usd('source.subtotal', 'rates.usd_per_unit') }} as subtotal_usd,
        {{ to_usd('source.discount', 'rates.usd_per_unit') }} as discount_usd,
        {{ to_usd('source.shipping', 'rates.usd_per_unit') }} as shipping_usd,
        {{ to_usd('source.total', 'rates.usd_per_unit') }} as total_usd,

        -- timestamps
        {{ to_utc('source.created_at') }} as created_at,

        row_number() over (
            partition by source.order_id
            order by source._loaded_at desc, source._source_file desc, source._row_number desc
        ) as version_rank

    from source
    left join rates on rates.currency = upper(trim(source.currency))
    where not coalesce(source.is_test, false)

),

deduplicated as (

    select
        order_id,
        customer_id,
        email,
        currency,
        order_status,
        is_paid,
        subtotal,
        discount,
        shipping,
        total,
        usd_per_unit,
        subtotal_usd,
        discount_usd,
        shipping_usd,
        total_usd,
        created_at
    from renamed
    where version_rank = 1

)

select * from deduplicated
