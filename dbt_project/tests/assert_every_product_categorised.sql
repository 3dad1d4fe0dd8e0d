-- Every product sold up to the as-of date has a category from the
-- categories step; a product without one would drop out of every category
-- mart.

{{ config(meta={'dagster': {'ref': {'name': 'products'}}}) }}

with

described_products as (

    select * from {{ ref('int_products__described') }}

),

products as (

    select * from {{ ref('products') }}

),

uncategorised as (

    select described_products.product_id
    from described_products
    left join products
        on described_products.product_id = products.product_id
    where products.category is null

)

select * from uncategorised
