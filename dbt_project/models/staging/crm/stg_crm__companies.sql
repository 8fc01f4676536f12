with

source as (

    select * from {{ source('crm', 'companies') }}

),

renamed as (

    select
        -- ids
        company_id,

        -- dimensions
        trim(name) as company_name,
        lower(trim(industry)) as industry,
        upper(trim(country)) as country_code,

        -- numerics
        employees as employee_count,

        row_number() over (
            partition by company_id order by _loaded_at desc, _source_file desc, _row_number desc
        ) as version_rank

    from source

),

latest as (

    select company_id, company_name, industry, country_code, employee_count
    from renamed
    where version_rank = 1

)

select * from latest
