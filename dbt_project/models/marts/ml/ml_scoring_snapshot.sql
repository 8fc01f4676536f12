{#- Every model feature for every person as of the scoring date: the same macro as training. -#}
{{ customer_features(scoring_cutoff()) }}
