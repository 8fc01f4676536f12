{#- The identity graph's components at the scoring date: one per person or visitor. -#}
{{ connected_components(
    ref('int_identity__current_nodes'), ref('int_identity__current_links'), 'cutoff_date'
) }}
