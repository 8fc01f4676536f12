{#- The identifiers the training cutoffs follow: those of a stable random sample of at most
    var('ml_training_max_people') people of the current graph (a hash of their component, the
    same every run), and identifiers no longer in it (excluded since) by their own hash. Past
    that many people, more rows of the same cutoffs add little to a model and much to the build;
    scoring always covers everyone. -#}
with

identifiers as (

    select node_id from {{ ref('int_identity__identifiers') }} where exclusion_reason is null

),

components as (

    select node_id, identifier_type, component_id
    from {{ ref('int_identity__current_components') }}

),

share as (

    {% set most = var('ml_training_max_people') %}
    select
        {% if most %}
        -- people: components with an identifier other than a cookie
        least(10000, ceil(10000.0 * {{ most }} / greatest(count(distinct case
            when identifier_type <> 'anonymous_id' then component_id end), 1)))
        {% else %}
        10000
        {% endif %} as buckets
    from components

)

select identifiers.node_id
from identifiers
left join components on components.node_id = identifiers.node_id
cross join share
where {{ hash_bucket('coalesce(components.component_id, identifiers.node_id)', 10000) }} < share.buckets
