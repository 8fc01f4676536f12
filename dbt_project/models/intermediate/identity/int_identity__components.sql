{#- Identity components at every cutoff: the sampled people at the training cutoffs and campaign
    days, everyone at the scoring date. -#}
{{ history_config() }}
select * from ({{ connected_components(
    cutoffs_to_build(ref('int_identity__nodes_by_cutoff'), scoring=true),
    cutoffs_to_build(ref('int_identity__links_by_cutoff'), scoring=true),
    'cutoff_date'
) }}) as training
union all
-- both sides are connected_components' columns
select * from {{ ref('int_identity__current_components') }} -- noqa: AM04
