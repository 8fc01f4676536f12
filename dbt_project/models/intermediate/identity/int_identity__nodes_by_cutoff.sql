{#- The identity graph's nodes at each past cutoff (training cutoffs and campaign days), for the
    sampled people (int_identity__training_sample). -#}
{{ history_config() }}
{{ identity_graph_nodes(cutoffs_to_build(history_cutoffs()), ref('int_identity__training_sample')) }}
