{#- The identity graph's links at each training cutoff, between the nodes kept there. -#}
{{ identity_graph_links(ref('int_identity__nodes_by_cutoff')) }}
