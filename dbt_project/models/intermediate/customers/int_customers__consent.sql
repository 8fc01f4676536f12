{#- Each person's consent, over every CRM contact record that is theirs: its contact id, or its
    current email, is in the person's identity graph. The rule where records disagree:
      * within one record, its latest version wins, so a newer version may re-consent;
      * across a person's records, the most restrictive wins: do-not-contact on any record stops
        every channel, and an opt-in counts only when every record agrees.
    A person without a CRM record has no opt-in. -#}
with

keys as (

    select node_id, customer_key from {{ ref('int_identity__customer_keys') }}

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

person_records as (

    select keys.customer_key, contacts.*
    from contacts
    inner join keys on keys.node_id = {{ identifier_node('contact_id', 'contacts.contact_id') }}
    union
    select keys.customer_key, contacts.*
    from contacts
    inner join keys on keys.node_id = {{ identifier_node('email', 'contacts.email') }}

),

final as (

    select
        customer_key,
        min(case when is_email_opt_in then 1 else 0 end) = 1 as is_email_opt_in,
        min(case when is_sms_opt_in then 1 else 0 end) = 1 as is_sms_opt_in,
        max(case when is_do_not_contact then 1 else 0 end) = 1 as is_do_not_contact,
        count(distinct contact_id) as contact_records,
        max(updated_at) as consent_updated_at
    from person_records
    group by customer_key

)

select * from final
