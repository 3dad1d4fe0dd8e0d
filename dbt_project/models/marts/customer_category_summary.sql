with

order_lines as (

    select * from {{ ref('int_order_lines__categorised') }}

),

category_orders as (

    select * from {{ ref('customer_category_orders') }}

),

amounts as (

    select
        customer_id,
        category,
        sum(case when is_in_ttm then net_amount else 0 end)
            as ttm_net_amount,
        count(
            distinct case when is_in_ttm and not is_return then order_id end
        ) as ttm_orders,
        sum(net_amount) as lifetime_net_amount
    from order_lines
    group by customer_id, category

),

purchase_days as (

    select
        customer_id,
        category,
        count(*) as n_order_days,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date
    from category_orders
    group by customer_id, category

),

summary as (

    select
        purchase_days.customer_id,
        purchase_days.category,
        amounts.ttm_net_amount,
        amounts.ttm_orders,
        amounts.lifetime_net_amount,
        purchase_days.n_order_days,
        purchase_days.first_order_date,
        purchase_days.last_order_date
    from purchase_days
    inner join amounts
        on purchase_days.customer_id = amounts.customer_id
        and purchase_days.category = amounts.category

)

select * from summary
