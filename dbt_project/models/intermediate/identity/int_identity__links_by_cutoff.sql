{#- The identity graph's links at each training cutoff, between the nodes kept there. -#}
{{ history_config() }}
{{ identity_graph_links(cutoffs_to_build(ref('int_identity__nodes_by_cutoff'))) }}
