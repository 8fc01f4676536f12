{#- Rows of `relation` attributed to the identity component they belonged to at each cutoff
    they precede (strictly before it, and within `lookback_days` of it when given).

    `nodes` are identifier_node(...) expressions over the row alias `r`, in order of preference:
    an order goes to the component of its shop account if that account is in the graph at the
    cutoff, else to that of its email. Equality joins only (the row's node to the component
    rows), which every planner handles well. `key` lists the columns that identify a row. -#}
{% macro attribute_to_components(relation, key, at, nodes, components, lookback_days=none) %}
select *
from (
    select
        candidates.*,
        row_number() over (
            partition by candidates.cutoff_date, {{ key | join(', ') }}
            order by candidates.node_preference
        ) as node_rank
    from (
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
    ) as candidates
) as ranked
where node_rank = 1
{% endmacro %}
