{#- Label propagation converged: no link joins nodes given different components (within a
    partition). Then every component's label is the same node, which is its smallest (a node's
    label is never larger than itself), so the components are exact. -#}
{% test links_within_one_component(model, links, partition) %}

select links.{{ partition }}, links.node_id, links.linked_node_id
from {{ links }} as links
inner join {{ model }} as own
    on own.{{ partition }} = links.{{ partition }} and own.node_id = links.node_id
inner join {{ model }} as near
    on near.{{ partition }} = links.{{ partition }} and near.node_id = links.linked_node_id
where own.component_id <> near.component_id

{% endtest %}
