{#- What every destination receives about a person, in one place: (field, expression over
    int_activation__people). Each destination model names the fields in its vendor's style:
      'snake'       nextsale_<field>            (HubSpot custom properties, Klaviyo properties)
      'salesforce'  <Title_Case_Field>__c       (Salesforce custom fields) -#}
{% macro activation_fields() %}
    {{ return([
        ('rfm_segment', 'rfm_segment'),
        ('lifecycle_stage', 'lifecycle_stage'),
        ('value_tier', 'value_tier'),
        ('purchase_propensity', round_to('purchase_propensity', 4)),
        ('churn_risk', round_to('churn_risk', 4)),
        ('upsell_propensity', round_to('upsell_propensity', 4)),
        ('expected_ltv', round_to('expected_ltv_usd', 2)),
        ('potential_ltv', round_to('potential_ltv_usd', 2)),
        ('ltv_headroom', round_to('ltv_headroom_usd', 2)),
        ('expected_days_to_next_order', round_to('expected_days_to_next_order', 1)),
        ('cross_sell_category', 'cross_sell_category'),
        ('cross_sell_product', 'cross_sell_product_id'),
        ('upsell_product', 'upsell_product_id'),
        ('offer', 'offer'),
        ('offer_channel', 'offer_channel'),
        ('offer_expected_margin', round_to('offer_expected_incremental_margin_usd', 2)),
        ('offer_reason', 'offer_reason'),
        ('score_reasons', 'score_reasons'),
        ('scored_on', 'as_of_date'),
    ]) }}
{% endmacro %}

{% macro activation_columns(style) %}
    {%- for field, expression in activation_fields() %}
    {%- if style == 'salesforce' %}
        {%- set name = field.split('_') | map('capitalize') | join('_') | replace('Ltv', 'LTV') | replace('Rfm', 'RFM') ~ '__c' %}
    {%- else %}
        {%- set name = 'nextsale_' ~ field %}
    {%- endif %}
        {{ expression }} as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
{% endmacro %}

{#- The people a destination may hold: with an email, no erasure request, not do-not-contact;
    with the reasons behind their offers in one readable text, where an audience sends to them
    (scores.offer_reasons explains no one else). -#}
{% macro syncable_people() %}
    select
        people.*,
        nullif(concat_ws(' | ',
            case when reasons.cross_sell_reasons <> ''
                 then 'Cross-sell ' || people.cross_sell_category || ': ' || reasons.cross_sell_reasons end,
            case when reasons.upsell_reasons <> '' and people.upsell_product_id is not null
                 then 'Upgrade: ' || reasons.upsell_reasons end
        ), '') as score_reasons
    from {{ ref('int_activation__people') }} as people
    left join {{ source('scores', 'offer_reasons') }} as reasons
        on reasons.customer_key = people.customer_key
    where people.email is not null
        and not people.is_erasure_requested
        and not coalesce(people.is_do_not_contact, false)
{% endmacro %}
