{#- Emails of people who asked to be erased. Every destination deletes them, whatever the sync
    mode, and no activation table holds them: customer_360 leaves them out already, so this
    comes from the requests themselves. -#}
select distinct email
from {{ ref('stg_crm__erasure_requests') }}
where email is not null
