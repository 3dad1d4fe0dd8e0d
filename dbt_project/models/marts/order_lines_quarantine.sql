{%- set formats = order_date_formats() -%}

with

screened as (

    select * from {{ ref('int_order_lines__screened') }}

),

quarantined as (

    select *
    from screened
    where quarantine_reason is not null

),

described as (

    select
        line_id,
        source_file,
        source_line,
        quarantine_reason,
        case quarantine_reason
            when 'unparseable_date' then
                case
                    when {{ clean_text('order_date_text') }} is null
                        then 'order_date is empty'
                    else {{ dbt.concat([
                        "'order_date '",
                        quoted_or_empty('order_date_text'),
                        sql_string(
                            ' matches none of the formats '
                            ~ formats | join(', ')
                        ),
                    ]) }}
                end
            when 'unparseable_quantity' then {{ dbt.concat([
                "'quantity '",
                quoted_or_empty('quantity_text'),
                number_expected(),
            ]) }}
            when 'unparseable_amount' then
                case
                    when {{ clean_text('net_amount_text') }} is not null
                        and net_amount is null
                        then {{ dbt.concat([
                            "'net_amount '",
                            quoted_or_empty('net_amount_text'),
                            number_expected(),
                        ]) }}
                    when {{ clean_text('unit_price_text') }} is not null
                        and unit_price is null
                        then {{ dbt.concat([
                            "'unit_price '",
                            quoted_or_empty('unit_price_text'),
                            number_expected(),
                        ]) }}
                    else 'net_amount and unit_price are both empty'
                end
            when 'missing_order_id' then 'order_id is empty'
            when 'missing_product_id' then 'product_id is empty'
            when 'missing_customer' then 'customer_id is empty'
            when 'date_before_1990' then {{ dbt.concat([
                "'order_date '",
                quoted_or_empty('order_date_text'),
                "' is before 1990-01-01'",
            ]) }}
            when 'date_far_in_future' then {{ dbt.concat([
                "'order_date '",
                quoted_or_empty('order_date_text'),
                "' is after the export''s plausible period, which ends on '",
                dbt.cast('last_plausible_date', dbt.type_string()),
                "'; expected a date in that period'",
            ]) }}
            when 'non_product_code' then {{ dbt.concat([
                "'product_id '",
                quoted_or_empty('product_id_text'),
                "' is a non-product code'",
            ]) }}
            when 'adjustment' then {{ dbt.concat([
                "'order_id '",
                quoted_or_empty('order_id'),
                "' has an adjustment prefix'",
            ]) }}
            when 'zero_quantity' then {{ dbt.concat([
                "'quantity '",
                quoted_or_empty('quantity_text'),
                "' is zero'",
            ]) }}
            when 'non_positive_price' then {{ dbt.concat([
                "'unit_price '",
                quoted_or_empty('unit_price_text'),
                "', net_amount '",
                quoted_or_empty(dbt.cast('net_amount', dbt.type_string())),
                "': a line needs a positive price'",
            ]) }}
            when 'duplicate_line' then {{ dbt.concat([
                "'same values as line '",
                dbt.cast('duplicate_of_source_line', dbt.type_string()),
                "' of '",
                'duplicate_of_source_file',
            ]) }}
            when 'return_without_sale' then {{ dbt.concat([
                "'customer_id '",
                quoted_or_empty('customer_id'),
                "' has no clean sale of product_id '",
                quoted_or_empty('product_id'),
                "' on or before '",
                dbt.cast('order_date', dbt.type_string()),
            ]) }}
        end as quarantine_detail,
        order_id,
        order_date_text as order_date,
        customer_id_text as customer_id,
        product_id_text as product_id,
        product_name,
        quantity_text as quantity,
        unit_price_text as unit_price,
        net_amount_text as net_amount,
        unit_cost_text as unit_cost,
        category_from_source as category,
        customer_name,
        parent_customer_id_text as parent_customer_id,
        segment,
        rep_id,
        region,
        country
    from quarantined

)

select * from described
