{#- Everyone a campaign could be judged on, as they were the day it went out, with what they
    bought in its attribution window (var campaign_attribution_days) from its first send:
      treatment            sent, holdout, or not_sent (only for a campaign without a holdout:
                           the people known that day it was not sent to, the comparison group
                           of an observational estimate)
      label_converted      a paid order in the window
      label_revenue_usd    paid revenue in the window
    Features are customer_features at the campaign day (rows strictly before it, identity as it
    was then) and campaign_history (sends whose window had closed). The same two macros make
    ml_offer_scoring_snapshot, so learning and scoring cannot drift. -#}
with

sends as (

    select * from {{ ref('int_campaigns__sends') }}

),

campaigns as (

    select
        campaign_id,
        min(sent_at) as started_at,
        cast(min(sent_at) as date) as cutoff_date,
        max(case when is_holdout then 1 else 0 end) = 1 as has_holdout
    from sends
    group by campaign_id

),

features as (

    {{ customer_features(campaign_cutoffs()) }}

),

persons as (

    {{ persons_now(campaign_cutoffs(), 'campaign_cutoffs') }}

),

people as (

    select distinct cutoff_date, person_key from persons

),

history as (

    {{ campaign_history('people') }}

),

candidates as (

    select
        campaigns.campaign_id,
        campaigns.started_at,
        persons.person_key,
        features.*,
        sends.send_id,
        sends.audience,
        sends.offer_type,
        sends.offer_value,
        sends.channel,
        case when sends.send_id is null then 'not_sent'
             when sends.is_holdout then 'holdout'
             else 'sent' end as treatment,
        -- two components at the campaign day that are one person now: keep the one with the
        -- longer history, so a person is one row per campaign
        row_number() over (
            partition by campaigns.campaign_id, persons.person_key
            order by features.orders_count desc, features.tenure_days desc, features.component_id asc
        ) as person_rank
    from campaigns
    inner join features on features.cutoff_date = campaigns.cutoff_date
    inner join persons
        on persons.cutoff_date = features.cutoff_date
        and persons.component_id = features.component_id
    left join sends
        on sends.campaign_id = campaigns.campaign_id
        and sends.customer_key = persons.person_key
    where sends.send_id is not null or not campaigns.has_holdout

),

windowed as (

    select
        candidates.*,
        {{ dbt.dateadd('day', var('campaign_attribution_days'), 'candidates.started_at') }} as window_end
    from candidates
    where person_rank = 1

),

labels as (

    select
        windowed.campaign_id,
        windowed.person_key,
        count(*) as orders,
        sum(orders.total_usd) as revenue_usd
    from windowed
    inner join {{ ref('int_customers__orders') }} as orders
        on orders.customer_key = windowed.person_key
        and orders.is_paid
        and orders.created_at >= windowed.started_at
        and orders.created_at < windowed.window_end
    group by windowed.campaign_id, windowed.person_key

),

scoring as (

    select cutoff_date as as_of_date from {{ ref('int_calendar__cutoffs') }} where is_scoring

),

final as (

    select
        windowed.*,
        {{ campaign_history_columns('history') }},
        windowed.window_end <= cast(scoring.as_of_date as {{ dbt.type_timestamp() }}) as is_window_complete,
        coalesce(labels.orders, 0) > 0 as label_converted,
        cast(coalesce(labels.revenue_usd, 0) as {{ type_double() }}) as label_revenue_usd
    from windowed
    cross join scoring
    inner join history
        on history.cutoff_date = windowed.cutoff_date
        and history.person_key = windowed.person_key
    left join labels
        on labels.campaign_id = windowed.campaign_id
        and labels.person_key = windowed.person_key

)

select * from final
