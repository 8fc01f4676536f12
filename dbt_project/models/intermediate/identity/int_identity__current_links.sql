{#- The identity graph's links at the scoring date. -#}
{{ identity_graph_links(ref('int_identity__current_nodes')) }}
