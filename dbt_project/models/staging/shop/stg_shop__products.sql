with

source as (

    select * from {{ source('shop', 'products') }}

),

renamed as (

    select
        -- ids
        product_id,

        -- dimensions
        trim(name) as product_name,
        trim(category) as category,
        trim(family) as family,
        tier,
        coalesce(active, true) as is_active,

        -- numerics
        price,
        margin_rate,

        row_number() over (
            partition by product_id order by _loaded_at desc, _source_file desc, _row_number desc
        ) as version_rank

    from source

),

latest as (

    select product_id, product_name, category, family, tier, is_active, price, margin_rate
    from renamed
    where version_rank = 1

)

select * from latest
