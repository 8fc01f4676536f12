{#- Order lines attributed to the person they belonged to at each cutoff they precede. -#}
{{ history_config() }}
{{ attribute_to_components(
    ref('int_orders__lines'), ['order_id', 'line_id'], 'created_at', order_nodes(),
    cutoffs_to_build(ref('int_identity__components'), scoring=true)) }}
