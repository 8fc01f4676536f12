{#- Identity components at every cutoff (training cutoffs and the scoring date). -#}
{{ connected_components(
    ref('int_identity__nodes_by_cutoff'), ref('int_identity__links_by_cutoff'), 'cutoff_date'
) }}
