{#- RFM quintile scores and named segments, lifecycle stage and value tier per person.

    Scores rank buyers only (5 = best): recency by days since the last order, frequency by
    orders, monetary by revenue. Segments follow the common RFM grid on R and the mean of F and
    M, checked in this order: champions (R>=4, FM>=4), cannot lose (R<=2, FM>=4.5), loyal
    (R>=3, FM>=3), new (one order, R>=4), potential loyalists (R>=3), at risk (R<=2, FM>=3),
    hibernating (R=2), lost (R=1). Lifecycle: prospect (never bought), new (first order in the
    last 90 days), active (last order within 180 days), at risk (within 365), lapsed (older). -#}
with

customers as (

    select * from {{ ref('customer_360') }}

),

scored as (

    select
        customer_key,
        frequency,
        monetary_usd,
        recency_days,
        first_order_at,
        as_of_date,
        case when frequency > 0 then ntile(5) over (
            partition by case when frequency > 0 then 1 else 0 end
            order by recency_days desc, customer_key asc) end as recency_score,
        case when frequency > 0 then ntile(5) over (
            partition by case when frequency > 0 then 1 else 0 end
            order by frequency, monetary_usd, customer_key) end as frequency_score,
        case when frequency > 0 then ntile(5) over (
            partition by case when frequency > 0 then 1 else 0 end
            order by monetary_usd, customer_key) end as monetary_score,
        case when frequency > 0 then percent_rank() over (
            partition by case when frequency > 0 then 1 else 0 end
            order by monetary_usd) end as monetary_percentile
    from customers

),

segmented as (

    select
        *,
        (frequency_score + monetary_score) / 2.0 as frequency_monetary_score,
        case
            when frequency = 0 then 'prospect'
            when recency_score >= 4 and (frequency_score + monetary_score) / 2.0 >= 4 then 'champions'
            when recency_score <= 2 and (frequency_score + monetary_score) / 2.0 >= 4.5 then 'cannot lose'
            when recency_score >= 3 and (frequency_score + monetary_score) / 2.0 >= 3 then 'loyal'
            when recency_score >= 4 and frequency = 1 then 'new'
            when recency_score >= 3 then 'potential loyalists'
            when recency_score <= 2 and (frequency_score + monetary_score) / 2.0 >= 3 then 'at risk'
            when recency_score = 2 then 'hibernating'
            else 'lost'
        end as rfm_segment,
        case
            when frequency = 0 then 'prospect'
            when {{ dbt.datediff('first_order_at', 'as_of_date', 'day') }} <= 90 then 'new'
            when recency_days <= 180 then 'active'
            when recency_days <= 365 then 'at risk'
            else 'lapsed'
        end as lifecycle_stage,
        case
            when frequency = 0 then 'none'
            when monetary_percentile >= 0.9 then 'high'
            when monetary_percentile >= 0.5 then 'mid'
            else 'low'
        end as value_tier
    from scored

)

select
    customer_key,
    recency_score,
    frequency_score,
    monetary_score,
    frequency_monetary_score,
    rfm_segment,
    lifecycle_stage,
    value_tier
from segmented
