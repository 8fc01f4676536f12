{#- Campaign sends (and holdout members) before the scoring date, with the customer_key of the
    person they went to, by their email, else their CRM contact id, else their shop customer id. -#}
-- depends_on: {{ ref('int_identity__customer_keys') }}
{{ attribute_to_people_now(
    ref('stg_campaigns__sends'), ['send_id'], 'sent_at',
    [identifier_node('email', 'r.email'), identifier_node('contact_id', 'r.contact_id'),
     identifier_node('customer_id', 'r.customer_id')]
) }}
