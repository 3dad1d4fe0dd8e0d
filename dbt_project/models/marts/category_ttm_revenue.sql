with

order_lines as (

    select * from {{ ref('int_order_lines__categorised') }}

),

products as (

    select * from {{ ref('products') }}

),

categories as (

    select distinct category
    from products

),

ttm as (

    select
        category,
        sum(net_amount) as ttm_revenue,
        count(distinct case when not is_return then customer_id end)
            as n_customers_ttm
    from order_lines
    where is_in_ttm
    group by category

),

final as (

    select
        categories.category,
        coalesce(ttm.ttm_revenue, 0) as ttm_revenue,
        coalesce(ttm.n_customers_ttm, 0) as n_customers_ttm
    from categories
    left join ttm
        on categories.category = ttm.category

)

select * from final
