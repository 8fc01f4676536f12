{#- When this build of the activation tables read consent: the latest load of CRM contacts and of
    erasure requests it saw. A sync compares it with raw: a load since means these tables may
    send someone who has opted out or asked to be erased, and it refuses to send. -#}
select
    (select max(_loaded_at) from {{ source('crm', 'contacts') }}) as contacts_loaded_at,
    (select max(_loaded_at) from {{ source('crm', 'erasure_requests') }}) as erasures_loaded_at,
    {{ dbt.current_timestamp() }} as built_at,
    '{{ invocation_id }}' as dbt_invocation_id
