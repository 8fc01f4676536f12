{#- A key names one person and a person has one key: destinations keyed on customer_key would
    otherwise merge two people or hold one twice. -#}
select customer_key, null as component_id
from {{ ref('int_identity__customer_keys') }}
group by customer_key
having count(distinct component_id) > 1

union all

select null, component_id
from {{ ref('int_identity__customer_keys') }}
group by component_id
having count(distinct customer_key) > 1
