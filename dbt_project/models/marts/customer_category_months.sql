with

order_lines as (

    select * from {{ ref('int_order_lines__categorised') }}

),

monthly as (

    select
        customer_id,
        category,
        cast({{ dbt.date_trunc('month', 'order_date') }} as date)
            as month_start,
        sum(net_amount) as net_amount,
        count(distinct case when not is_return then order_id end) as n_orders,
        sum(quantity) as quantity
    from order_lines
    group by
        customer_id,
        category,
        cast({{ dbt.date_trunc('month', 'order_date') }} as date)

)

select * from monthly
