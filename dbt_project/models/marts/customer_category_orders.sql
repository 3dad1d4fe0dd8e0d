with

order_lines as (

    select * from {{ ref('int_order_lines__categorised') }}

),

daily as (

    select
        customer_id,
        category,
        order_date,
        sum(net_amount) as net_amount,
        count(*) as n_lines
    from order_lines
    group by customer_id, category, order_date

),

purchase_days as (

    -- A day whose returns cancel its sales is not a purchase.
    select *
    from daily
    where net_amount > 0

),

sequenced as (

    select
        customer_id,
        category,
        order_date,
        net_amount,
        n_lines,
        {{ dbt.datediff(
            'lag(order_date) over (
                partition by customer_id, category order by order_date
            )',
            'order_date',
            'day',
        ) }} as days_since_previous,
        row_number() over (
            partition by customer_id, category order by order_date
        ) as order_seq
    from purchase_days

)

select * from sequenced
