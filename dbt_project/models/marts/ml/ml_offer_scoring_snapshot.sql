{#- Every person as of the scoring date with the features the offer-uplift model reads: the
    scoring snapshot (customer_features) and campaign_history, as in ml_campaign_snapshots. -#}
with

features as (

    select * from {{ ref('ml_scoring_snapshot') }}

),

people as (

    select cutoff_date, customer_key as person_key from features

),

history as (

    {{ campaign_history('people') }}

)

-- the features are ml_scoring_snapshot's, whose contract names them
select
    features.*, -- noqa: AM04
    {{ campaign_history_columns('history') }}
from features
inner join history
    on history.cutoff_date = features.cutoff_date
    and history.person_key = features.customer_key
