with

versions as (

    select * from {{ ref('stg_crm__contact_versions') }}

),

latest as (

    select
        contact_id,
        company_id,
        email,
        first_name,
        last_name,
        phone,
        lifecycle_stage,
        lead_source,
        country_code,
        is_email_opt_in,
        is_sms_opt_in,
        is_do_not_contact,
        created_at,
        updated_at,
        loaded_at
    from versions
    where version_rank = 1

)

select * from latest
