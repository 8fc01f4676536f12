{#- Per past buyer of the scoring snapshot, the next best offer: the cross-sell category with the
    highest propensity x margin and the product in it that best goes with what they own
    (product_affinity; else the category's best seller), the upsell product (the next tier of
    the family they bought most recently, product_upgrade_paths) with its propensity, and the
    offer model's choice of offer and channel. The models write the propensities and choices
    (scores.cross_sell_candidates, scores.offer_choices, scores.customer_scores); this ranks and
    joins them. -#}
with

snapshot as (

    select * from {{ ref('ml_scoring_snapshot') }}

),

lines_by_cutoff as (

    select * from {{ ref('int_identity__lines_by_cutoff') }}

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

affinity as (

    select * from {{ ref('product_affinity') }}

),

upgrade_paths as (

    select * from {{ ref('product_upgrade_paths') }}

),

candidates as (

    select * from {{ source('scores', 'cross_sell_candidates') }}

),

scores as (

    select * from {{ source('scores', 'customer_scores') }}

),

offer_choices as (

    select * from {{ source('scores', 'offer_choices') }}

),

buyers as (

    select cutoff_date, component_id, customer_key
    from snapshot
    where orders_count > 0

),

scoring_lines as (

    select lines_by_cutoff.*
    from lines_by_cutoff
    inner join buyers
        on buyers.cutoff_date = lines_by_cutoff.cutoff_date
        and buyers.component_id = lines_by_cutoff.component_id
    where lines_by_cutoff.is_paid

),

category_margins as (

    -- margin of a typical sale in the category; where the catalogue has no margins, revenue
    select category,
           percentile_cont(0.5) within group (order by price * coalesce(margin_rate, 1.0)) as margin_usd
    from products
    where is_active and category is not null
    group by category

),

best_category as (

    select component_id, category, cross_sell_propensity,
           cross_sell_propensity * coalesce(margin_usd, 0) as cross_sell_expected_margin_usd
    from (
        select candidates.*, category_margins.margin_usd,
               row_number() over (
                   partition by candidates.component_id
                   order by candidates.cross_sell_propensity * coalesce(category_margins.margin_usd, 0) desc,
                            candidates.category
               ) as pick
        from candidates
        left join category_margins on category_margins.category = candidates.category
    ) as ranked
    where pick = 1

),

owned as (

    select distinct component_id, product_id from scoring_lines

),

affinity_products as (

    -- products of the chosen category that go best with something the person bought
    select best_category.component_id, affinity.other_product_id as product_id,
           max(affinity.lift) as lift
    from best_category
    inner join owned on owned.component_id = best_category.component_id
    inner join affinity on affinity.product_id = owned.product_id
    inner join products
        on products.product_id = affinity.other_product_id
        and products.category = best_category.category
        and products.is_active
    group by best_category.component_id, affinity.other_product_id

),

best_affinity_product as (

    select component_id, product_id
    from (
        select component_id, product_id,
               row_number() over (partition by component_id order by lift desc, product_id asc) as pick
        from affinity_products
    ) as ranked
    where pick = 1

),

best_seller as (

    -- per category, the product in the most paid orders at the scoring cutoff
    select category, product_id
    from (
        select products.category, lines_by_cutoff.product_id,
               row_number() over (
                   partition by products.category
                   order by count(distinct lines_by_cutoff.order_id) desc, lines_by_cutoff.product_id
               ) as pick
        from lines_by_cutoff
        inner join products
            on products.product_id = lines_by_cutoff.product_id and products.is_active
        where lines_by_cutoff.is_paid
            and lines_by_cutoff.cutoff_date = (select max(buyers.cutoff_date) from buyers)
        group by products.category, lines_by_cutoff.product_id
    ) as ranked
    where pick = 1

),

upsell as (

    -- the next tier up from the most recently bought product that has one
    select component_id, upgrade_product_id as upsell_product_id,
           product_id as upsell_from_product_id
    from (
        select scoring_lines.component_id, upgrade_paths.upgrade_product_id,
               upgrade_paths.product_id,
               row_number() over (
                   partition by scoring_lines.component_id
                   order by scoring_lines.created_at desc, upgrade_paths.product_id asc,
                            upgrade_paths.upgrade_product_id asc
               ) as pick
        from scoring_lines
        inner join upgrade_paths on upgrade_paths.product_id = scoring_lines.product_id
    ) as ranked
    where pick = 1

),

final as (

    select
        buyers.customer_key,
        buyers.cutoff_date as as_of_date,
        best_category.category as cross_sell_category,
        coalesce(best_affinity_product.product_id, best_seller.product_id) as cross_sell_product_id,
        case when best_category.category is not null
             then best_affinity_product.product_id is not null end as cross_sell_backed_by_affinity,
        best_category.cross_sell_propensity,
        best_category.cross_sell_expected_margin_usd,
        upsell.upsell_product_id,
        upsell.upsell_from_product_id,
        -- the upsell model's score of the person (customer_scores), for the people offered an
        -- upgrade only
        case when upsell.upsell_product_id is not null then scores.upsell_propensity end
            as upsell_propensity,
        offer_choices.offer_type,
        offer_choices.offer_discount_percent,
        offer_choices.offer_channel,
        offer_choices.offer_order_chance_uplift,
        offer_choices.offer_expected_incremental_margin_usd,
        offer_choices.offer_reason
    from buyers
    left join best_category on best_category.component_id = buyers.component_id
    left join best_affinity_product on best_affinity_product.component_id = buyers.component_id
    left join best_seller on best_seller.category = best_category.category
    left join upsell on upsell.component_id = buyers.component_id
    left join scores on scores.customer_key = buyers.customer_key
    left join offer_choices on offer_choices.customer_key = buyers.customer_key

)

select * from final
