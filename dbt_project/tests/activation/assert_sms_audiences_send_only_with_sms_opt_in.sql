{{ config(meta={'dagster': {'ref': {'name': 'audience_members'}}}) }}
-- No SMS audience sends to someone without SMS opt-in.
select members.customer_key, members.audience
from {{ ref('audience_members') }} as members
inner join {{ ref('int_activation__people') }} as people using (customer_key)
where members.is_sendable and members.channel = 'sms' and not coalesce(people.is_sms_opt_in, false)
