{#- Each audience of this build, in words: its members, holdout and sendable people, and when
    one of these is zero, why. An audience whose rule needs a model without a published version
    is empty, and says so. Built in every run (it sends nothing, so it is not gated). -#}
-- depends_on: {{ ref('audience_members') }}
{%- set audiences = [] %}
{%- set settings = {} %}
{%- if execute %}
    {%- set node = graph.nodes['model.' ~ project_name ~ '.audience_members'] %}
    {%- set settings = node.config.meta %}
    {%- set audiences = settings.get('audiences', []) %}
{%- endif %}
{%- set holdout_share = settings.get('holdout_share', 0.1) %}
{%- set smallest_with_holdout = smallest_audience_with_holdout(holdout_share) %}
with

rules as (

    {% for audience in audiences %}
    select
        '{{ audience.name }}' as audience_rule,
        '{{ audience.channel }}' as channel,
        '{{ audience.get("needs", []) | join(", ") }}' as needs
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
    {% if not audiences %}
    select cast(null as varchar) as audience_rule, cast(null as varchar) as channel,
           cast(null as varchar) as needs
    where false
    {% endif %}

),

members as (

    select
        audience_rule,
        audience,
        count(*) as members,
        count(case when is_holdout then 1 end) as holdout,
        count(case when is_sendable then 1 end) as sendable,
        count(case when is_capped then 1 end) as capped,
        count(case when suppression_reason is not null and not is_holdout then 1 end) as suppressed
    from {{ ref('audience_members') }}
    group by audience_rule, audience

),

-- the commonest reason an audience's members may not be sent
suppression_reasons as (

    select
        audience,
        suppression_reason,
        row_number() over (partition by audience order by count(*) desc, suppression_reason) as rank
    from {{ ref('audience_members') }}
    where suppression_reason is not null
    group by audience, suppression_reason

),

-- the first model a rule needs that has no version in use, with its gate's reason
missing_models as (

    select
        rules.audience_rule,
        min(model_status.model || ' (' || model_status.gate_reason || ')') as missing_model
    from rules
    inner join {{ source('scores', 'model_status') }} as model_status
        on ', ' || rules.needs || ', ' like '%, ' || model_status.model || ', %'
    where model_status.version_in_use is null
    group by rules.audience_rule

),

final as (

    select
        rules.audience_rule,
        coalesce(members.audience, rules.audience_rule) as audience,
        rules.channel,
        nullif(rules.needs, '') as needs_models,
        coalesce(members.members, 0) as members,
        coalesce(members.holdout, 0) as holdout,
        coalesce(members.sendable, 0) as sendable,
        coalesce(members.capped, 0) as capped,
        coalesce(members.suppressed, 0) as suppressed,
        case
            when members.members is null and missing_models.missing_model is not null
                then 'empty: needs the ' || missing_models.missing_model
                     || ' model, which has no published version, so its scores are null'
            when members.members is null then 'empty: nobody matches the rule'
            when members.holdout = 0
                then 'no holdout: ' || cast(members.members as varchar)
                     || case when members.members = 1 then ' member' else ' members' end
                     || ', too few for a '
                     || '{{ "%g" % (holdout_share * 100) }} % holdout (it needs {{ smallest_with_holdout }}); '
                     || 'its lift cannot be measured'
            when members.sendable = 0
                then 'nobody sendable: '
                     || coalesce(suppression_reasons.suppression_reason, 'all held out or capped')
        end as status_reason
    from rules
    left join members on members.audience_rule = rules.audience_rule
    left join missing_models on missing_models.audience_rule = rules.audience_rule
    left join suppression_reasons
        on suppression_reasons.audience = members.audience and suppression_reasons.rank = 1

)

select * from final
