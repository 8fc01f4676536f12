with

source as (

    select * from {{ source('shop', 'order_lines') }}

),

renamed as (

    select
        -- ids
        order_id,
        line_id,
        product_id,

        -- numerics (order currency)
        quantity,
        unit_price,
        coalesce(discount, 0) as discount,
        quantity * unit_price - coalesce(discount, 0) as line_amount,

        row_number() over (
            partition by order_id, line_id
            order by _loaded_at desc, _source_file desc, _row_number desc
        ) as version_rank

    from source

),

deduplicated as (

    select order_id, line_id, product_id, quantity, unit_price, discount, line_amount
    from renamed
    where version_rank = 1

)

select * from deduplicated
