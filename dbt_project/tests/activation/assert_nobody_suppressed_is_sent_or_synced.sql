{{ config(meta={'dagster': {'ref': {'name': 'audience_members'}}}) }}
-- Nobody with do-not-contact or an erasure request is sent an audience or synced anywhere.
with suppressed as (
    select customer_key, email from {{ ref('int_activation__people') }}
    where coalesce(is_do_not_contact, false) or is_erasure_requested
)
select 'audience' as place, customer_key from {{ ref('audience_members') }}
where is_sendable and customer_key in (select customer_key from suppressed)
union all
select 'hubspot', nextsale_customer_key from {{ ref('hubspot__contacts') }}
where email in (select email from suppressed)
union all
select 'klaviyo', external_id from {{ ref('klaviyo__profiles') }}
where email in (select email from suppressed)
union all
select 'salesforce', Nextsale_Customer_Key__c from {{ ref('salesforce__contacts') }}
where Email in (select email from suppressed)
