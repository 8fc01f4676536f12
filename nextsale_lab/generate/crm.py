"""The CRM's exports: companies, contacts (with an email's previous version and junk contacts), deals and erasure requests, as CSV."""

from __future__ import annotations

from nextsale_lab.generate.files import SourceFile

COMPANIES_SQL = """
select 'CO' || lpad(cast(company_idx as varchar), 6, '0') as company_id, name, industry,
       employees, country
from companies order by company_idx
"""

CONTACTS_SQL = """
with current_rows as (
    select
        dirt, pid,
        case when dirt = 2 then null else contact_id(pid) end as contact_id,
        email1 as email, first_name, last_name, phone, company_id,
        case when crm_knows_account then customer_id(pid) end as shop_customer_id,
        lifecycle_stage,
        lead_source, country,
        case when dirt = 1 then bad_ts(pid) else iso_utc(created_day) end as created_at,
        iso_utc(updated_day) as updated_at,
        email_opt_in, sms_opt_in, do_not_contact
    from people where in_crm
), previous_rows as (
    select 0 as dirt, pid, contact_id(pid), old_email, first_name, last_name, phone, company_id,
           null, 'lead', lead_source, country, iso_utc(created_day), iso_utc(old_updated_day),
           email_opt_in, sms_opt_in, do_not_contact
    from people where in_crm and old_email is not null
), junk_rows as (
    select 0, -1, junk_contact_key(junk_no), 'test@example.com', 'Test', 'User', null, null,
           null, 'other', 'direct', 'US', iso_utc(day), iso_utc(day), false, false, false
    from junk
)
select * exclude (dirt, pid) from (
    from current_rows union all from previous_rows union all from junk_rows
    union all (from current_rows where dirt = 5)
)
"""

DEALS_SQL = """
select 'D' || lpad(cast(pid as varchar), 9, '0') as deal_id, contact_id(pid) as contact_id,
       deal_stage as stage, deal_amount as amount, iso_utc(deal_created_day) as created_at,
       case when deal_closed_day is not null and not isnan(deal_closed_day)
            then iso_utc(deal_closed_day) end as closed_at
from people where has_deal
"""

ERASURE_SQL = """
select email1 as email, iso_utc(erasure_day) as requested_at
from people where erasure_requested
"""

FILES = (
    SourceFile("crm_companies", COMPANIES_SQL, once="companies.csv"),
    SourceFile("crm_contacts", CONTACTS_SQL),
    SourceFile("crm_deals", DEALS_SQL),
    SourceFile("crm_erasure_requests", ERASURE_SQL),
)
