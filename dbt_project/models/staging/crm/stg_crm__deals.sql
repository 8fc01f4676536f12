with

source as (

    select * from {{ source('crm', 'deals') }}

),

renamed as (

    select
        -- ids
        deal_id,
        contact_id,

        -- dimensions
        lower(trim(stage)) as deal_stage,
        lower(trim(stage)) = 'closedwon' as is_won,

        -- numerics
        amount,

        -- timestamps
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('closed_at') }} as closed_at,

        row_number() over (
            partition by deal_id order by _loaded_at desc, _source_file desc, _row_number desc
        ) as version_rank

    from source

),

latest as (

    select deal_id, contact_id, deal_stage, is_won, amount, created_at, closed_at
    from renamed
    where version_rank = 1

)

select * from latest
