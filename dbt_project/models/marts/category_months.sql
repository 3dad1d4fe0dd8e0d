with

customer_months as (

    select * from {{ ref('customer_category_months') }}

),

category_months as (

    select
        category,
        month_start,
        sum(net_amount) as net_amount,
        count(distinct customer_id) as n_customers
    from customer_months
    group by category, month_start

)

select * from category_months
