"""The ground truth (`_ground_truth/`, tests only): the person behind each identifier, the
latent traits, every planted dirty row and each send's true effect."""

from __future__ import annotations

PERSONS_TRUTH_SQL = """
select pid, is_buyer, in_crm, is_b2b, company_id, country, acquired_day, lapsed_day, n_orders,
       guest_orders, n_devices, shares_cookie, purchase_rate, dropout_p, spend_level,
       price_sensitivity, discount_sensitivity, tier_appetite, sms_preference, email_opt_in,
       sms_opt_in, do_not_contact, erasure_requested, columns('^pref_')
from people order by pid
"""

IDENTIFIERS_TRUTH_SQL = """
with ids as (
    select 'email' as kind, lower(email1) as value, pid from people
    union all select 'email', lower(email2), pid from people where email2 is not null
    union all select 'email', lower(old_email), pid from people where old_email is not null
    union all select 'contact_id', contact_id(pid), pid from people where in_crm
    union all select distinct 'customer_id', customer_id(pid), pid from orders where has_account
    union all select distinct 'anonymous_id', cookie(getvariable('seed'), 'p' || pid, device), pid
        from sessions where pid >= 0 and not shared_cookie
    union all select 'anonymous_id', getvariable('shared_cookie'), null
    union all select distinct 'email', 'info@' || company_domain, null
        from people where company_domain is not null
    union all select 'email', 'test@example.com', null
)
select distinct kind, value, pid, pid is null as shared from ids
order by kind, value, pid
"""

DIRTY_TRUTH_SQL = """
select 'shop_orders' as source_table, kind, order_key(order_row) as row_key
from orders join dirt_kinds using (dirt)
union all select 'shop_orders', 'test_order', test_order_key(test_no) from test_orders
union all select 'shop_order_lines', kind, order_key(order_row) || '-' || line_no
from lines join dirt_kinds using (dirt)
union all select 'web_events', kind, event_key(event_row)
from events join dirt_kinds using (dirt)
union all select 'crm_contacts', kind, contact_id(pid) from people join dirt_kinds using (dirt)
where in_crm
union all select 'crm_contacts', 'junk_contact', junk_contact_key(junk_no) from junk
order by all
"""

SENDS_TRUTH_SQL = """
select send_key(campaign_id, pid) as send_id, pid, campaign_id, true_effect, responded
from sends
"""

TABLES = (
    ("persons", PERSONS_TRUTH_SQL),
    ("identifiers", IDENTIFIERS_TRUTH_SQL),
    ("dirty_rows", DIRTY_TRUTH_SQL),
    ("campaign_sends", SENDS_TRUTH_SQL),
)
