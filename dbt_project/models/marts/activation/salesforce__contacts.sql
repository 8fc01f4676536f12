{#- Salesforce Contacts, upserted on the external id Nextsale_Customer_Key__c: standard fields by
    their API names, nextsale's as custom fields ending __c. LastName is required by Salesforce:
    the email stands in when the name is unknown. -#}
with

people as (

    select * from {{ ref('int_activation__people') }}
    where email is not null and not is_erasure_requested and not coalesce(is_do_not_contact, false)

),

final as (

    select
        customer_key as Nextsale_Customer_Key__c,
        email as Email,
        first_name as FirstName,
        coalesce(last_name, email) as LastName,
        phone as Phone,
        rfm_segment as RFM_Segment__c,
        lifecycle_stage as Lifecycle_Stage__c,
        value_tier as Value_Tier__c,
        round(purchase_propensity, 4) as Purchase_Propensity__c,
        round(churn_risk, 4) as Churn_Risk__c,
        round(upsell_propensity, 4) as Upsell_Propensity__c,
        round(expected_ltv_usd, 2) as Expected_LTV__c,
        round(potential_ltv_usd, 2) as Potential_LTV__c,
        round(ltv_headroom_usd, 2) as LTV_Headroom__c,
        cross_sell_category as Cross_Sell_Category__c,
        cross_sell_product_id as Cross_Sell_Product__c,
        upsell_product_id as Upsell_Product__c,
        score_reasons as Score_Reasons__c,
        as_of_date as Scored_On__c
    from people

)

select * from final
