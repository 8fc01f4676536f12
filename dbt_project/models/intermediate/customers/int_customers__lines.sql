{#- Order lines before the scoring date, with the customer_key of the person they belong to now. -#}
-- depends_on: {{ ref('int_identity__customer_keys') }}
{{ attribute_to_people_now(ref('int_orders__lines'), ['order_id', 'line_id'], 'created_at', order_nodes()) }}
