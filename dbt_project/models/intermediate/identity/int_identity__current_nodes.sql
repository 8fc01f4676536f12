{#- The identity graph's nodes at the scoring date: everyone. -#}
{{ identity_graph_nodes(scoring_cutoff()) }}
