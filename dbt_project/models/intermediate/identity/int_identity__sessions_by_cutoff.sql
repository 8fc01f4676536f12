{#- Web sessions of the 90 days before each cutoff, attributed to the person they belonged to
    then (the window the features look at). -#}
{{ history_config() }}
{{ attribute_to_components(
    ref('int_web__sessions'), ['session_id'], 'started_at', session_nodes(),
    cutoffs_to_build(ref('int_identity__components'), scoring=true), lookback_days=90) }}
