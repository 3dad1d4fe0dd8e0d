{%- set min_shared_orders = 3 -%}
{%- set max_partners = 25 -%}

with

screened as (

    select * from {{ ref('int_order_lines__screened') }}

),

run_context as (

    select * from {{ ref('run_context') }}

),

order_products as (

    select distinct
        screened.order_id,
        screened.product_id
    from screened
    cross join run_context
    where screened.quarantine_reason is null
        and not screened.is_return
        and screened.order_date <= run_context.as_of_date

),

frequent_products as (

    -- A product in fewer orders than the threshold cannot be in a kept pair,
    -- so it stays out of the self-join.
    select
        product_id,
        row_number() over (order by product_id) as product_key
    from order_products
    group by product_id
    having count(*) >= {{ min_shared_orders }}

),

keyed_lines as (

    -- Integer keys: on the bundled data the self-join below makes about
    -- 17 M rows, and joining and grouping them on integers took 1.6 s of CPU
    -- against 2.0 s on the text ids.
    select
        dense_rank() over (order by order_products.order_id) as order_key,
        frequent_products.product_key
    from order_products
    inner join frequent_products
        on order_products.product_id = frequent_products.product_id

),

pair_counts as (

    -- Each unordered pair once; the mirror image is added below.
    select
        this_line.product_key,
        other_line.product_key as other_product_key,
        count(*) as n_orders
    from keyed_lines as this_line
    inner join keyed_lines as other_line
        on this_line.order_key = other_line.order_key
        and this_line.product_key < other_line.product_key
    group by this_line.product_key, other_line.product_key
    having count(*) >= {{ min_shared_orders }}

),

both_directions as (

    select
        product_key,
        other_product_key,
        n_orders
    from pair_counts

    union all

    select
        other_product_key as product_key,
        product_key as other_product_key,
        n_orders
    from pair_counts

),

named as (

    select
        this_product.product_id,
        other_product.product_id as other_product_id,
        both_directions.n_orders
    from both_directions
    inner join frequent_products as this_product
        on both_directions.product_key = this_product.product_key
    inner join frequent_products as other_product
        on both_directions.other_product_key = other_product.product_key

),

ranked as (

    select
        product_id,
        other_product_id,
        n_orders,
        row_number() over (
            partition by product_id
            order by n_orders desc, other_product_id
        ) as partner_rank
    from named

),

strongest as (

    select
        product_id,
        other_product_id,
        n_orders,
        partner_rank
    from ranked
    where partner_rank <= {{ max_partners }}

)

select * from strongest
