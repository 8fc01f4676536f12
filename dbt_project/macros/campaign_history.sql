{#- What each person in `people` (a relation with cutoff_date and person_key) was sent before the
    cutoff and how they answered: sends whose attribution window closed before it, by channel
    and by offer type, and how many of them were followed by an order; zeros for people never
    sent anything. The offer-uplift model reads these beside customer_features, at campaign
    days (ml_campaign_snapshots) and the scoring date (ml_offer_scoring_snapshot). -#}
{% macro campaign_history_groups() %}
    {{ return([
        ('', 'true'),
        ('_email', "outcomes.channel = 'email'"),
        ('_sms', "outcomes.channel = 'sms'"),
        ('_discount', "outcomes.offer_type = 'discount'"),
    ]) }}
{% endmacro %}

{% macro campaign_history(people) %}
    {%- set cutoff_ts = 'cast(people.cutoff_date as ' ~ dbt.type_timestamp() ~ ')' %}
    select
        people.cutoff_date,
        people.person_key,
        {% for name, rule in campaign_history_groups() %}
        cast(sum(case when outcomes.send_id is not null and {{ rule }} then 1 else 0 end)
             as {{ dbt.type_bigint() }}) as past_campaign_sends{{ name }},
        cast(sum(case when outcomes.converted and {{ rule }} then 1 else 0 end)
             as {{ dbt.type_bigint() }}) as past_campaign_responses{{ name }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from {{ people }} as people
    left join {{ ref('campaign_outcomes') }} as outcomes
        on outcomes.customer_key = people.person_key
        and not outcomes.is_holdout
        and outcomes.window_end <= {{ cutoff_ts }}
    group by people.cutoff_date, people.person_key
{% endmacro %}

{#- The columns campaign_history adds, as `alias.column, ...`. -#}
{% macro campaign_history_columns(alias) %}
    {%- for name, _ in campaign_history_groups() -%}
    {{ alias }}.past_campaign_sends{{ name }}, {{ alias }}.past_campaign_responses{{ name }}{% if not loop.last %}, {% endif %}
    {%- endfor -%}
{% endmacro %}
