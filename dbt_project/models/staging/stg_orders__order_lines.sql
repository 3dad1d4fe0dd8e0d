{%- set formats = order_date_formats() -%}

with

order_lines as (

    select * from {{ source('raw', 'order_lines') }}

),

mapping_rules as (

    select * from {{ ref('stg_orders__mapping_rules') }}

),

typed as (

    select
        {{ dbt.cast('source_file', dbt.type_string()) }} as source_file,
        {{ dbt.cast('source_line', dbt.type_bigint()) }} as source_line,
        {{ clean_text('order_id') }} as order_id,
        {{ parse_timestamp(clean_text('order_date'), formats) }} as order_ts,
        {{ normalise_customer_id('customer_id') }} as customer_id,
        upper({{ clean_text('product_id') }}) as product_id,
        {{ clean_text('product_name') }} as product_name,
        {{ cast_number('quantity') }} as quantity_cast,
        {{ cast_number('unit_price') }} as unit_price_cast,
        {{ cast_number('net_amount') }} as net_amount_cast,
        {{ cast_number('unit_cost') }} as unit_cost_cast,
        {{ clean_text('category') }} as category,
        {{ clean_text('customer_name') }} as customer_name,
        {{ normalise_customer_id('parent_customer_id') }}
            as parent_customer_id,
        {{ clean_text('segment') }} as segment,
        {{ clean_text('rep_id') }} as rep_id,
        {{ clean_text('region') }} as region,
        {{ clean_text('country') }} as country,
        order_date as order_date_text,
        customer_id as customer_id_text,
        product_id as product_id_text,
        quantity as quantity_text,
        unit_price as unit_price_text,
        net_amount as net_amount_text,
        unit_cost as unit_cost_text,
        parent_customer_id as parent_customer_id_text
    from order_lines

),

numbers as (

    -- NaN and infinities parse as doubles but are no amounts.
    select
        *,
        {{ finite_or_null('quantity_cast') }} as quantity,
        {{ finite_or_null('unit_price_cast') }} as unit_price,
        {{ finite_or_null('net_amount_cast') }} as net_amount_given,
        {{ finite_or_null('unit_cost_cast') }} as unit_cost,
        case
            when {{ clean_text('net_amount_text') }} is null
                then {{ finite_or_null('quantity_cast') }}
                    * {{ finite_or_null('unit_price_cast') }}
            else {{ finite_or_null('net_amount_cast') }}
        end as net_amount_double
    from typed

),

order_ids as (

    -- Rules are matched once per distinct id (54 k orders and 5 k products
    -- in the 1.07 M bundled lines) instead of once per line.
    select distinct order_id
    from numbers
    where order_id is not null

),

product_ids as (

    select distinct product_id
    from numbers
    where product_id is not null

),

order_flags as (

    select
        order_ids.order_id,
        exists (
            select 1
            from mapping_rules
            where mapping_rules.rule = 'cancellation_order_prefix'
                and {{ starts_with(
                    'upper(order_ids.order_id)', 'mapping_rules.value'
                ) }}
        ) as is_cancellation,
        exists (
            select 1
            from mapping_rules
            where mapping_rules.rule = 'adjustment_order_prefix'
                and {{ starts_with(
                    'upper(order_ids.order_id)', 'mapping_rules.value'
                ) }}
        ) as is_adjustment
    from order_ids

),

product_flags as (

    select
        product_ids.product_id,
        exists (
            select 1
            from mapping_rules
            where mapping_rules.rule = 'non_product_code'
                and product_ids.product_id = mapping_rules.value
        )
        or exists (
            select 1
            from mapping_rules
            where mapping_rules.rule = 'non_product_code_like'
                and product_ids.product_id like mapping_rules.value
        ) as is_non_product
    from product_ids

),

flagged as (

    select
        {{ dbt.hash(dbt.concat([
            'numbers.source_file',
            "'|'",
            dbt.cast('numbers.source_line', dbt.type_string()),
        ])) }} as line_id,
        numbers.source_file,
        numbers.source_line,
        numbers.order_id,
        numbers.order_ts,
        cast(numbers.order_ts as date) as order_date,
        numbers.customer_id,
        numbers.product_id,
        numbers.product_name,
        numbers.quantity,
        numbers.unit_price,
        case
            when abs(numbers.net_amount_double) <= {{ max_money() }}
                then cast(
                    round(numbers.net_amount_double, 4) as {{ type_money() }}
                )
        end as net_amount,
        numbers.category,
        numbers.customer_name,
        numbers.parent_customer_id,
        numbers.segment,
        numbers.rep_id,
        numbers.region,
        numbers.country,
        numbers.unit_cost,
        {{ clean_text('numbers.order_date_text') }} is not null
            and numbers.order_ts is null as has_bad_date,
        {{ clean_text('numbers.quantity_text') }} is not null
            and numbers.quantity is null as has_bad_quantity,
        ({{ clean_text('numbers.net_amount_text') }} is not null
            and numbers.net_amount_given is null)
            or ({{ clean_text('numbers.unit_price_text') }} is not null
                and numbers.unit_price is null)
            or abs(numbers.net_amount_double) > {{ max_money() }}
            as has_bad_amount,
        {{ clean_text('numbers.unit_cost_text') }} is not null
            and numbers.unit_cost is null as has_bad_unit_cost,
        coalesce(order_flags.is_cancellation, false) as is_cancellation,
        coalesce(order_flags.is_adjustment, false) as is_adjustment,
        coalesce(product_flags.is_non_product, false) as is_non_product,
        numbers.order_date_text,
        numbers.customer_id_text,
        numbers.product_id_text,
        numbers.quantity_text,
        numbers.unit_price_text,
        numbers.net_amount_text,
        numbers.unit_cost_text,
        numbers.parent_customer_id_text
    from numbers
    left join order_flags
        on numbers.order_id = order_flags.order_id
    left join product_flags
        on numbers.product_id = product_flags.product_id

)

select * from flagged
