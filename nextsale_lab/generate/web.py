"""The web analytics export: one event per JSON line, anonymous and logged-in."""

from __future__ import annotations

from nextsale_lab.generate.files import SourceFile

EVENTS_SQL = """
with shaped as (
    select
        n.dirt,
        event_key(n.event_row) as event_key,
        case when n.dirt = 2 then null else event_key(n.event_row) end as event_id,
        case when n.dirt = 1 then bad_ts(n.event_row)
             else iso_utc(s.start_day + n.offset_s / 86400.0) end as event_ts,
        case when s.shared_cookie then getvariable('shared_cookie')
             when s.pid >= 0 then cookie(getvariable('seed'), 'p' || s.pid, s.device)
             else cookie(getvariable('seed'), 'a' || getvariable('chunk') || '-' || (-s.person), 0) end
            as anonymous_id,
        case when s.logged_in then customer_id(s.pid) end as user_id,
        substr(md5(getvariable('seed') || '-s' || getvariable('chunk') || '-' || n.session_row), 1, 16)
            as session_id,
        getvariable('event_names')[n.event + 1] as event_name,
        case n.event when 0 then '/' when 1 then '/products/' || pr.product_id
             when 2 then '/cart' when 3 then '/checkout' when 4 then '/checkout/thank-you'
             else '/newsletter' end as page_path,
        pr.product_id,
        case n.email_kind when 1 then p.email1 when 3 then 'info@' || p.company_domain end
            as email,
        s.utm_source,
        s.utm_medium,
        case s.utm_medium when 'email' then 'newsletter-' || strftime(
                 make_timestamp(cast(s.start_day * 86400000000 as bigint)), '%Y-%m')
             when 'cpc' then 'brand-search' when 'paid_social' then 'prospecting' end
            as utm_campaign,
        ['desktop', 'mobile', 'tablet'][s.device + 1] as device,
        coalesce(p.country, 'US') as country
    from events n
    join sessions s on s.session_row = n.session_row
    left join people p on p.pid = s.pid
    left join products pr on pr.product_idx = n.product_idx
)
select * exclude (dirt, event_key) from (from shaped union all (from shaped where dirt = 5))
"""

FILES = (SourceFile("web_events", EVENTS_SQL, fmt="json"),)
