"""The email/SMS tool's export: every send and holdout member of each campaign."""

from __future__ import annotations

from nextsale_lab.generate.files import SourceFile

SENDS_SQL = """
select send_key(campaign_id, pid) as send_id, campaign_id, p.email1 as email,
       null as contact_id, null as customer_id, audience,
       offer_type, offer_value, channel, iso_utc(sent_day) as sent_at, is_holdout
from sends join people p using (pid)
order by campaign_id, pid
"""

FILES = (SourceFile("campaign_sends", SENDS_SQL),)
