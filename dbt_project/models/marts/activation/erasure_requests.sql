{#- Every email of every person who asked to be erased, not only the one their request named:
    each address the identity graph connects to any identifier of the request (CRM versions,
    orders, web logins), and each requested email even when no data knows it. Every destination
    deletes the records it holds under any of them, whatever the sync mode; no activation table
    holds them (customer_360 leaves erased people out). -#}
with

erased_emails as (

    select substr(node_id, {{ 'email:' | length + 1 }}) as email
    from {{ ref('int_identity__erased_nodes') }}
    where identifier_type = 'email'

),

requested_emails as (

    select email from {{ ref('stg_crm__erasure_requests') }} where email is not null

)

select email from erased_emails
union
select email from requested_emails
