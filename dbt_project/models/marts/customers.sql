with

order_lines as (

    select * from {{ ref('int_order_lines__categorised') }}

),

category_orders as (

    select * from {{ ref('customer_category_orders') }}

),

run_context as (

    select * from {{ ref('run_context') }}

),

sequenced_lines as (

    select
        *,
        row_number() over (
            order by order_ts, source_file, source_line
        ) as line_seq
    from order_lines

),

per_customer as (

    -- Descriptive attributes come from the latest line that carries them.
    select
        customer_id,
        {{ latest_non_null('customer_name', 'line_seq') }} as customer_name,
        {{ latest_non_null('parent_customer_id', 'line_seq') }}
            as parent_customer_id,
        {{ latest_non_null('country', 'line_seq') }} as country,
        {{ latest_non_null('region', 'line_seq') }} as region,
        {{ latest_non_null('rep_id', 'line_seq') }} as rep_id,
        {{ latest_non_null('segment', 'line_seq') }} as segment,
        min(case when not is_return then order_date end) as first_order_date,
        max(case when not is_return then order_date end) as last_order_date,
        count(distinct case when not is_return then order_id end) as n_orders,
        sum(net_amount) as net_revenue,
        sum(case when is_in_ttm then net_amount else 0 end) as ttm_revenue,
        count(
            distinct case when is_in_ttm and not is_return then order_id end
        ) as ttm_orders
    from sequenced_lines
    group by customer_id

),

ttm_categories as (

    select
        category_orders.customer_id,
        count(distinct category_orders.category) as n_categories_ttm
    from category_orders
    cross join run_context
    where category_orders.order_date >= run_context.ttm_start_date
    group by category_orders.customer_id

),

final as (

    select
        per_customer.customer_id,
        per_customer.customer_name,
        per_customer.parent_customer_id,
        per_customer.country,
        per_customer.region,
        per_customer.rep_id,
        per_customer.segment,
        per_customer.first_order_date,
        per_customer.last_order_date,
        per_customer.n_orders,
        per_customer.net_revenue,
        per_customer.ttm_revenue,
        per_customer.ttm_orders,
        {{ dbt.datediff(
            'per_customer.first_order_date', 'run_context.as_of_date', 'day'
        ) }} as tenure_days,
        coalesce(ttm_categories.n_categories_ttm, 0) as n_categories_ttm,
        {{ dbt.datediff(
            'per_customer.last_order_date', 'run_context.as_of_date', 'day'
        ) }} as days_since_last_order
    from per_customer
    cross join run_context
    left join ttm_categories
        on per_customer.customer_id = ttm_categories.customer_id

)

select * from final
