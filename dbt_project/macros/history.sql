{#- The identity history (the graph, order lines and sessions at every past cutoff) is the
    costliest part of a build, and a past cutoff sees only what came before it. A daily build
    (var refresh_history: false) keeps the cutoffs already built and builds only the new ones
    and the scoring date; the default (true) rebuilds every cutoff, as the weekly retraining
    does, so late data and a changed training sample reach the history there.

    history_config(): the config of the models keyed by cutoff_date: tables by default,
    incremental by cutoff_date in a daily build, where the post-hook drops the cutoffs the
    calendar no longer has (yesterday's scoring date). -#}
{% macro history_config() %}
    {%- if var('refresh_history') -%}
    {{ config(materialized='table') }}
    {%- else -%}
    {{ config(
        materialized='incremental',
        unique_key='cutoff_date',
        incremental_strategy='delete+insert',
        post_hook="{{ delete_cutoffs_no_longer_in_calendar() }}"
    ) }}
    {%- endif -%}
{% endmacro %}

{#- `relation` (a ref or a subquery) less the cutoffs already built, in a daily build. With
    `scoring` (the models that hold the scoring date), the latest cutoff built is built again
    too: it is yesterday's scoring date, which may be a campaign day now, a history cutoff
    built for the training sample rather than for everyone. Every history model thus builds
    the same cutoffs, so a cutoff's nodes, links and components always agree. -#}
{% macro cutoffs_to_build(relation, scoring=false) -%}
    {%- if not var('refresh_history') and is_incremental() -%}
    (
        select * from (select * from {{ relation }}) as built
        where built.cutoff_date not in (select distinct cutoff_date from {{ this }})
        {%- if scoring %}
           or built.cutoff_date >= (select max(cutoff_date) from {{ this }})
        {%- endif %}
    )
    {%- else -%}
    {{ relation }}
    {%- endif -%}
{%- endmacro %}

{% macro delete_cutoffs_no_longer_in_calendar() %}
    delete from {{ this }}
    where cutoff_date not in (
        select cutoff_date from {{ ref('int_calendar__cutoffs') }}
        where is_scoring or is_campaign or (is_training and has_propensity_label)
    )
{% endmacro %}
