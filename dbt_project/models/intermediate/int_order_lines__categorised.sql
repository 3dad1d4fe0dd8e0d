{{ config(materialized='view') }}

with

screened as (

    select * from {{ ref('int_order_lines__screened') }}

),

product_categories as (

    select * from {{ ref('stg_longtail__product_categories') }}

),

run_context as (

    select * from {{ ref('run_context') }}

),

categorised as (

    select
        screened.line_id,
        screened.source_file,
        screened.source_line,
        screened.order_id,
        screened.order_ts,
        screened.order_date,
        screened.customer_id,
        screened.parent_customer_id,
        screened.customer_name,
        screened.segment,
        screened.rep_id,
        screened.region,
        screened.country,
        screened.product_id,
        product_categories.category,
        screened.quantity,
        screened.net_amount,
        screened.is_return,
        screened.order_date >= run_context.ttm_start_date as is_in_ttm
    from screened
    cross join run_context
    left join product_categories
        on screened.product_id = product_categories.product_id
    where screened.quarantine_reason is null
        and screened.order_date <= run_context.as_of_date

)

select * from categorised
