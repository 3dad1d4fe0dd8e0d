with

screened as (

    select * from {{ ref('int_order_lines__screened') }}

),

run_context as (

    select * from {{ ref('run_context') }}

),

clean_lines as (

    select screened.*
    from screened
    cross join run_context
    where screened.quarantine_reason is null
        and screened.order_date <= run_context.as_of_date

),

name_counts as (

    select
        product_id,
        product_name,
        count(*) as n_lines,
        row_number() over (
            partition by product_id
            order by count(*) desc, product_name
        ) as name_rank
    from clean_lines
    where product_name is not null
    group by product_id, product_name

),

category_counts as (

    select
        product_id,
        category_from_source,
        row_number() over (
            partition by product_id
            order by count(*) desc, category_from_source
        ) as category_rank
    from clean_lines
    where category_from_source is not null
    group by product_id, category_from_source

),

totals as (

    select
        product_id,
        sum(net_amount) as net_revenue,
        count(*) as n_lines,
        count(distinct case when not is_return then order_id end) as n_orders,
        count(distinct case when not is_return then customer_id end)
            as n_customers,
        min(case when not is_return then order_date end) as first_sold_date,
        max(case when not is_return then order_date end) as last_sold_date
    from clean_lines
    group by product_id

),

described as (

    select
        totals.product_id,
        name_counts.product_name,
        category_counts.category_from_source as source_category,
        totals.net_revenue,
        totals.n_lines,
        totals.n_orders,
        totals.n_customers,
        totals.first_sold_date,
        totals.last_sold_date
    from totals
    left join name_counts
        on totals.product_id = name_counts.product_id
        and name_counts.name_rank = 1
    left join category_counts
        on totals.product_id = category_counts.product_id
        and category_counts.category_rank = 1

)

select * from described
