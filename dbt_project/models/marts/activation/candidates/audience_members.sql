{#- Audience membership with holdouts, consent, suppression and the weekly cap, from the rules in
    _audiences.yml. -#}
{%- set settings = config.get('meta') or {} %}
{%- set audiences = settings.get('audiences', []) %}
{%- set holdout_share = settings.get('holdout_share', 0.1) %}
{%- set holdout_buckets = (holdout_share * 10000) | int %}
with

people as (

    select * from {{ ref('int_activation__people') }}

),

matches as (

    {% for audience in audiences %}
    select
        customer_key,
        {% if audience.split_by -%}
        '{{ audience.name }}:' || {{ audience.split_by }}
        {%- else -%}
        '{{ audience.name }}'
        {%- endif %} as audience,
        '{{ audience.name }}' as audience_rule,
        lower(trim('{{ audience.channel }}')) as channel,
        {{ audience.priority }} as priority
    from people
    where ({{ audience.rule }})
    {%- if audience.split_by %} and {{ audience.split_by }} is not null{% endif %}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

-- The holdout is the members whose stable hash falls in the holdout share. An audience large
-- enough for one holdout member in expectation (1 / holdout_share) that drew none by chance
-- holds out its member with the lowest hash, so that no such audience goes without one.
bucketed as (

    select
        matches.*,
        {{ hash_bucket("matches.customer_key || '|' || matches.audience", 10000) }} as holdout_bucket
    from matches

),

drawn as (

    select
        bucketed.*,
        holdout_bucket < {{ holdout_buckets }}
            or (holdout_bucket = min(holdout_bucket) over (partition by audience)
                and count(*) over (partition by audience) >= {{ smallest_audience_with_holdout(holdout_share) }})
            as is_holdout
    from bucketed

),

-- Consent is read here, from the people themselves, and fails closed: a rule cannot bring its
-- own consent columns (a UNION in a rule adds rows, never opt-ins), a person missing from
-- people is suppressed, and a channel other than email or sms is never sent.
checked as (

    select
        matches.customer_key,
        matches.audience,
        matches.audience_rule,
        matches.channel,
        matches.priority,
        matches.is_holdout,
        case
            when consent.customer_key is null then 'unknown person'
            when consent.is_erasure_requested then 'erasure requested'
            when coalesce(consent.is_do_not_contact, false) then 'do not contact'
            when matches.channel = 'email' and not coalesce(consent.is_email_opt_in, false) then 'no email opt-in'
            when matches.channel = 'sms' and not coalesce(consent.is_sms_opt_in, false) then 'no sms opt-in'
            when matches.channel not in ('email', 'sms') then 'unknown channel'
        end as suppression_reason
    from drawn as matches
    left join people as consent on consent.customer_key = matches.customer_key

),

ranked as (

    select
        checked.*,
        -- among what could be sent, the person's audiences by priority: the cap keeps the first
        row_number() over (
            partition by customer_key, (not is_holdout and suppression_reason is null)
            order by priority, audience
        ) as send_rank
    from checked

),

final as (

    select
        customer_key,
        audience,
        audience_rule,
        channel,
        cast(priority as integer) as priority,
        is_holdout,
        suppression_reason,
        not is_holdout and suppression_reason is null
            and send_rank > {{ settings.get('weekly_cap', 2) }} as is_capped,
        not is_holdout and suppression_reason is null
            and send_rank <= {{ settings.get('weekly_cap', 2) }} as is_sendable
    from ranked

)

select * from final
