with

product_categories as (

    select * from {{ source('longtail', 'product_categories') }}

),

renamed as (

    select
        {{ dbt.cast('product_id', dbt.type_string()) }} as product_id,
        {{ dbt.cast('category', dbt.type_string()) }} as category,
        {{ dbt.cast('category_source', dbt.type_string()) }}
            as category_source,
        {{ dbt.cast('category_reason', dbt.type_string()) }}
            as category_reason
    from product_categories

)

select * from renamed
