{#- Web sessions before the scoring date, with the customer_key of the person they belong to now. -#}
with

current_components as (

    select components.*
    from {{ ref('int_identity__components') }} as components
    inner join {{ ref('int_calendar__cutoffs') }} as cutoffs
        on cutoffs.cutoff_date = components.cutoff_date and cutoffs.is_scoring

),

attributed as (

    {{ attribute_to_components(
        ref('int_web__sessions'), ['session_id'], 'started_at',
        [identifier_node('customer_id', 'r.user_id'), identifier_node('anonymous_id', 'r.anonymous_id'), identifier_node('email', 'r.email')],
        'current_components') }}

)

select {{ dbt.hash('component_id') }} as customer_key, attributed.*
from attributed
