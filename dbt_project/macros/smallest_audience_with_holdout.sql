{#- The fewest members an audience needs for one holdout member in expectation (1 / share):
    audience_members forces a holdout on audiences this large, and audience_status names the
    smaller ones. One rule, two readers. -#}
{% macro smallest_audience_with_holdout(holdout_share) %}
    {{- return((1 / holdout_share) | round(0, 'ceil') | int) -}}
{% endmacro %}
