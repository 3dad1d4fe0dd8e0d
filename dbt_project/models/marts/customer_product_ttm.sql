with

order_lines as (

    select * from {{ ref('int_order_lines__categorised') }}

),

ttm as (

    select
        customer_id,
        product_id,
        category,
        sum(net_amount) as net_amount,
        count(distinct case when not is_return then order_id end) as n_orders
    from order_lines
    where is_in_ttm
    group by customer_id, product_id, category

),

with_sales as (

    select *
    from ttm
    where n_orders > 0

)

select * from with_sales
