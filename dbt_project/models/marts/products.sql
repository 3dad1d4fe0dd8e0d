with

products as (

    select * from {{ ref('int_products__described') }}

),

product_categories as (

    select * from {{ ref('stg_longtail__product_categories') }}

),

run_context as (

    select * from {{ ref('run_context') }}

),

final as (

    -- Active means sold in the 90 days ending on the as-of date.
    select
        products.product_id,
        products.product_name,
        product_categories.category,
        product_categories.category_source,
        product_categories.category_reason,
        products.net_revenue,
        products.n_customers,
        products.first_sold_date,
        products.last_sold_date,
        products.last_sold_date >= cast(
            {{ dbt.dateadd('day', -89, 'run_context.as_of_date') }} as date
        ) as is_active
    from products
    cross join run_context
    left join product_categories
        on products.product_id = product_categories.product_id

)

select * from final
