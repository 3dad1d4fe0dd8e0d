-- The net amount of clean lines up to the as-of date is all in
-- customer_category_months, to the cent: no line lost a customer, a category
-- or a month on the way.

{{ config(meta={'dagster': {'ref': {'name': 'customer_category_months'}}}) }}

with

clean_lines as (

    select * from {{ ref('order_lines') }}

),

category_months as (

    select * from {{ ref('customer_category_months') }}

),

run_context as (

    select * from {{ ref('run_context') }}

),

clean_total as (

    select coalesce(sum(clean_lines.net_amount), 0) as net_amount
    from clean_lines
    cross join run_context
    where clean_lines.order_date <= run_context.as_of_date

),

months_total as (

    select coalesce(sum(net_amount), 0) as net_amount
    from category_months

),

compared as (

    select
        clean_total.net_amount as clean_net_amount,
        months_total.net_amount as months_net_amount
    from clean_total
    cross join months_total
    where abs(clean_total.net_amount - months_total.net_amount) >= 0.005

)

select * from compared
