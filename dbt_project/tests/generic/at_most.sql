{#- Every value of the column is at most `value` (a documented bound). -#}
{% test at_most(model, column_name, value) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} > {{ value }}

{% endtest %}
