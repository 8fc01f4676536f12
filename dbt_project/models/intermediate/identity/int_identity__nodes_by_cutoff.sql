{#- The identity graph's nodes at each training cutoff, for the sampled people
    (int_identity__training_sample). -#}
{{ identity_graph_nodes(training_cutoffs(), ref('int_identity__training_sample')) }}
