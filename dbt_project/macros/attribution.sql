{#- Rows of `relation` attributed to the identity component they belonged to at each cutoff
    they precede (strictly before it, and within `lookback_days` of it when given).

    `nodes` are identifier_node(...) expressions over the row alias `r`, in order of preference:
    an order goes to the component of its shop account if that account is in the graph at the
    cutoff, else to that of its email. Equality joins only (the row's node to the component
    rows), which every planner handles well. `key` lists the columns that identify a row. -#}
{% macro attribute_to_components(relation, key, at, nodes, components, lookback_days=none) %}
{%- set keys = ['cutoff_date'] + key -%}
with

candidates as materialized (

    {% for node in nodes %}
    select
        components.cutoff_date,
        components.component_id,
        {{ loop.index }} as node_preference,
        r.*
    from {{ relation }} as r
    inner join {{ components }} as components on components.node_id = {{ node }}
    where r.{{ at }} < cast(components.cutoff_date as {{ dbt.type_timestamp() }})
    {% if lookback_days %}
      and r.{{ at }} >= {{ dbt.dateadd('day', -lookback_days,
                                       'cast(components.cutoff_date as ' ~ dbt.type_timestamp() ~ ')') }}
    {% endif %}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

-- the preferred node of each row at each cutoff: an aggregate and an equality join, which
-- DuckDB spills past its memory cap (a window over every column of the rows did not, and ran
-- out of memory at 1M customers under a 5.6 GiB cap)
preferred as (

    select {{ keys | join(', ') }}, min(node_preference) as node_preference
    from candidates
    group by {{ keys | join(', ') }}

)

select candidates.*
from candidates
inner join preferred
    on {% for k in keys %}preferred.{{ k }} = candidates.{{ k }} and {% endfor %}preferred.node_preference = candidates.node_preference
{% endmacro %}

{#- Which identity node a row belongs to, in order of preference (see attribute_to_components).
    An order goes to its shop account, else its email; a web session to its logged-in account,
    else its cookie, else an email given in a form. -#}
{% macro order_nodes() -%}
    {{ return([identifier_node('customer_id', 'r.customer_id'), identifier_node('email', 'r.email')]) }}
{%- endmacro %}

{% macro session_nodes() -%}
    {{ return([
        identifier_node('customer_id', 'r.user_id'),
        identifier_node('anonymous_id', 'r.anonymous_id'),
        identifier_node('email', 'r.email'),
    ]) }}
{%- endmacro %}

{#- The cutoff relations the snapshots are built for. -#}
{% macro training_cutoffs() -%}
    (select cutoff_date from {{ ref('int_calendar__cutoffs') }}
     where is_training and has_propensity_label) as training_cutoffs
{%- endmacro %}

{% macro campaign_cutoffs() -%}
    (select cutoff_date from {{ ref('int_calendar__cutoffs') }}
     where is_campaign and not is_scoring) as campaign_cutoffs
{%- endmacro %}

{#- Every past cutoff the identity graph is built at: training cutoffs and campaign days. -#}
{% macro history_cutoffs() -%}
    (select cutoff_date from {{ ref('int_calendar__cutoffs') }}
     where not is_scoring and (is_campaign or (is_training and has_propensity_label)))
     as history_cutoffs
{%- endmacro %}

{% macro scoring_cutoff() -%}
    (select cutoff_date from {{ ref('int_calendar__cutoffs') }} where is_scoring) as scoring_cutoff
{%- endmacro %}

{#- CTEs shared by the feature macros: the identity components at each cutoff in `cutoffs`,
    and the order lines and (last 90 days of) web sessions attributed to them, computed once
    for all cutoffs in int_identity__lines_by_cutoff and int_identity__sessions_by_cutoff. -#}
{% macro activity_at_cutoffs(cutoffs) %}
cutoff_list as (

    select distinct cutoff_date from {{ cutoffs }}

),

components as (

    select components.*
    from {{ ref('int_identity__components') }} as components
    inner join cutoff_list on cutoff_list.cutoff_date = components.cutoff_date

),

lines as (

    select attributed.*
    from {{ ref('int_identity__lines_by_cutoff') }} as attributed
    inner join cutoff_list on cutoff_list.cutoff_date = attributed.cutoff_date

),

sessions as (

    select attributed.*
    from {{ ref('int_identity__sessions_by_cutoff') }} as attributed
    inner join cutoff_list on cutoff_list.cutoff_date = attributed.cutoff_date

),
{% endmacro %}

{#- Rows of `relation` before the scoring date, with the customer_key of the person they
    belong to now (the current identity graph). -#}
{% macro attribute_to_people_now(relation, key, at, nodes) %}
with

attributed as (

    {{ attribute_to_components(relation, key, at, nodes, ref('int_identity__customer_keys')) }}

)

select {{ dbt.hash('component_id') }} as customer_key, attributed.*
from attributed
{% endmacro %}

{#- The person each identity component at a cutoff in `cutoffs` (a relation, or a subquery named
    `alias`) is now: the current customer_key of its identifiers. Labels and campaign outcomes
    follow this key, so an order placed under a later account still counts for the person. -#}
{% macro persons_now(cutoffs, alias) %}
    select components.cutoff_date, components.component_id, min(keys.customer_key) as person_key
    from {{ ref('int_identity__components') }} as components
    inner join {{ cutoffs }} on {{ alias }}.cutoff_date = components.cutoff_date
    inner join {{ ref('int_identity__customer_keys') }} as keys on keys.node_id = components.node_id
    group by components.cutoff_date, components.component_id
{% endmacro %}
