{#- Salesforce Contacts, upserted on the external id Nextsale_Customer_Key__c: standard fields by
    their API names, nextsale's as custom fields ending __c. LastName is required by Salesforce:
    the email stands in when the name is unknown. -#}
with

people as (

    {{ syncable_people() }}

),

final as (

    -- Salesforce's API names are case-sensitive, so these keep their case
    select -- noqa: disable=CP02,AL09
        customer_key as Nextsale_Customer_Key__c,
        email as Email,
        first_name as FirstName,
        coalesce(last_name, email) as LastName,
        phone as Phone,
        {{ activation_columns('salesforce') }}
    from people -- noqa: enable=CP02,AL09

)

select * from final
