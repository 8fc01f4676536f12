{#- Customer keys retired when two known people merged, and the key that survived each. A
    destination that holds a record under a retired key removes it (or, where it matches people
    on something else, only forgets it): the surviving key's record carries the person. -#}
select retired_customer_key, surviving_customer_key, merged_at
from {{ ref('int_identity__key_merges') }}
