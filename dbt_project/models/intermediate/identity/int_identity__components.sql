{#- Identity components at every cutoff: the sampled people at the training cutoffs and campaign
    days, everyone at the scoring date. -#}
select * from ({{ connected_components(
    ref('int_identity__nodes_by_cutoff'), ref('int_identity__links_by_cutoff'), 'cutoff_date'
) }}) as training
union all
select * from {{ ref('int_identity__current_components') }}
