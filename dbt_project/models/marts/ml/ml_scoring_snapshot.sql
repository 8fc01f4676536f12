{#- Every model feature for every person as of the scoring date: the same macro as training. -#}
{{ customer_features(
    '(select cutoff_date from ' ~ ref('int_calendar__cutoffs') ~ ' where is_scoring) as scoring_cutoff'
) }}
