{#- Every identifier seen in a source row, with the identifier seen beside it (if any) and when.
    One row per (row, pair of identifiers); the nodes and links of the identity graph derive from
    it. A view: the web part, by far the largest, is its own incremental table. -#}
{{ config(materialized='view') }}

with

contacts as (

    select * from {{ ref('stg_crm__contact_versions') }}

),

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

web as (

    select * from {{ ref('int_identity__web_observations') }}

),

observations as (

    -- a CRM contact (each version) ties its id to its email
    select
        {{ identifier_node('contact_id', 'contact_id') }} as node_id,
        {{ identifier_node('email', 'email') }} as linked_node_id,
        'crm contact' as evidence,
        updated_at as seen_at
    from contacts

    union all

    -- a CRM that records the shop account ties the contact to it
    select
        {{ identifier_node('contact_id', 'contact_id') }},
        {{ identifier_node('customer_id', 'shop_customer_id') }},
        'crm contact',
        updated_at
    from contacts
    where shop_customer_id is not null

    union all

    -- an order ties the shop account to the checkout email (guests: email only)
    select
        {{ identifier_node('customer_id', 'customer_id') }},
        {{ identifier_node('email', 'email') }},
        'shop order',
        created_at
    from orders

    union all

    -- a web event ties the cookie to the logged-in account and to an email given in a form
    select node_id, linked_node_id, evidence, seen_at
    from web

)

select * from observations where node_id is not null or linked_node_id is not null
