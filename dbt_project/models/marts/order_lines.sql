with

screened as (

    select * from {{ ref('int_order_lines__screened') }}

),

clean as (

    select
        line_id,
        source_file,
        source_line,
        order_id,
        order_ts,
        order_date,
        customer_id,
        parent_customer_id,
        customer_name,
        product_id,
        product_name,
        quantity,
        unit_price,
        net_amount,
        is_return,
        category_from_source,
        segment,
        rep_id,
        region,
        country
    from screened
    where quarantine_reason is null

)

select * from clean
