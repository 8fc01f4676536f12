{#- Everyone a destination may hold who must not be marketed to, and why: do-not-contact (taken
    off every list, nextsale's properties cleared) or no email opt-in (taken off the email
    lists). Built from customer_360 alone, so it is current in every run whatever the models
    and the candidates' tests do; the syncs apply it even when they refuse to send. Erased
    people are in erasure_requests. -#}
select
    customer_key,
    email,
    case when is_do_not_contact then 'do not contact' else 'no email opt-in' end as reason
from {{ ref('customer_360') }}
where is_do_not_contact or not is_email_opt_in
