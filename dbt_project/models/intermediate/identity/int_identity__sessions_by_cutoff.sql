{#- Web sessions of the 90 days before each cutoff, attributed to the person they belonged to
    then (the window the features look at). -#}
{{ attribute_to_components(
    ref('int_web__sessions'), ['session_id'], 'started_at', session_nodes(),
    ref('int_identity__components'), lookback_days=90) }}
