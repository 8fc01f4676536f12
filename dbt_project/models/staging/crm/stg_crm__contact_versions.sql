{#- Every version of every CRM contact: an email changed in the CRM is still evidence of who the
    person is (the identity graph reads all versions; stg_crm__contacts keeps the latest). -#}
with

source as (

    select * from {{ source('crm', 'contacts') }}

),

renamed as (

    select
        -- ids
        contact_id,
        company_id,
        nullif(trim(shop_customer_id), '') as shop_customer_id,

        -- dimensions
        {{ normalize_email('email') }} as email,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        nullif(trim(phone), '') as phone,
        coalesce(lower(trim(lifecycle_stage)), 'other') as lifecycle_stage,
        lower(trim(lead_source)) as lead_source,
        upper(trim(country)) as country_code,
        coalesce(email_opt_in, false) as is_email_opt_in,
        coalesce(sms_opt_in, false) as is_sms_opt_in,
        coalesce(do_not_contact, false) as is_do_not_contact,

        -- timestamps
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('updated_at') }} as updated_at,
        {{ to_utc('_loaded_at') }} as loaded_at,

        -- 1 = the current version; ties go to the latest load
        row_number() over (
            partition by contact_id
            order by updated_at desc, _loaded_at desc, _source_file desc, _row_number desc
        ) as version_rank

    from source

)

select * from renamed
