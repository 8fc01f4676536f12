{#- Customer x category rows for categories not yet bought, as of the scoring date. -#}
with

category_features as (

    {{ customer_category_features(scoring_cutoff()) }}

)

select * from category_features where not has_bought_category
