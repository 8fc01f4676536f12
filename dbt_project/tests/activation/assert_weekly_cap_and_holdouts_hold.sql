-- A person is sent at most the weekly cap of audiences, and holdout members are never sent.
{%- set cap = graph.nodes.values() | selectattr('name', 'equalto', 'audience_members') | map(attribute='config') | map(attribute='meta') | map(attribute='weekly_cap') | first %}
select customer_key, 'over the cap' as problem
from {{ ref('audience_members') }}
where is_sendable
group by customer_key
having count(*) > {{ cap or 2 }}
union all
select customer_key, 'holdout sent'
from {{ ref('audience_members') }}
where is_holdout and is_sendable
