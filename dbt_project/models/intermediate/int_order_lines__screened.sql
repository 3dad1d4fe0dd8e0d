{%- set canonical_columns = [
    'order_id', 'order_ts', 'customer_id', 'product_id', 'product_name',
    'quantity', 'unit_price', 'net_amount', 'category', 'customer_name',
    'parent_customer_id', 'segment', 'rep_id', 'region', 'country',
    'unit_cost',
] -%}

with

order_lines as (

    select * from {{ ref('stg_orders__order_lines') }}

),

signed as (

    -- A cancellation or a negative quantity is a return: both its quantity and
    -- its net amount are negative, whatever sign the source wrote.
    select
        *,
        is_cancellation or quantity < 0 as is_return,
        case
            when is_cancellation or quantity < 0 then -abs(quantity)
            else quantity
        end as signed_quantity,
        case
            when is_cancellation or quantity < 0 then -abs(net_amount)
            else net_amount
        end as signed_net_amount
    from order_lines

),

ranked_duplicates as (

    -- The first line of a set with equal canonical values is kept; the others
    -- are the same line arriving again, as in two overlapping extracts.
    select
        *,
        row_number() over (
            partition by {{ canonical_columns | join(', ') }}
            order by source_file, source_line
        ) as duplicate_rank,
        first_value(source_file) over (
            partition by {{ canonical_columns | join(', ') }}
            order by source_file, source_line
        ) as first_source_file,
        first_value(source_line) over (
            partition by {{ canonical_columns | join(', ') }}
            order by source_file, source_line
        ) as first_source_line
    from signed

),

screened_by_value as (

    select
        *,
        case
            when order_ts is null then 'unparseable_date'
            when quantity is null then 'unparseable_quantity'
            when has_bad_amount or net_amount is null
                then 'unparseable_amount'
            when order_id is null then 'missing_order_id'
            when product_id is null then 'missing_product_id'
            when customer_id is null then 'missing_customer'
            when order_date < cast('1990-01-01' as date)
                then 'date_before_1990'
            when is_non_product then 'non_product_code'
            when is_adjustment then 'adjustment'
            when quantity = 0 then 'zero_quantity'
            when unit_price <= 0
                or signed_net_amount = 0
                or (not is_return and signed_net_amount < 0)
                then 'non_positive_price'
            when duplicate_rank > 1 then 'duplicate_line'
        end as value_reason
    from ranked_duplicates

),

first_clean_sales as (

    select
        customer_id,
        product_id,
        min(order_date) as first_sale_date
    from screened_by_value
    where value_reason is null
        and not is_return
    group by customer_id, product_id

),

screened as (

    select
        screened_by_value.*,
        coalesce(
            screened_by_value.value_reason,
            case
                when screened_by_value.is_return
                    and (
                        first_clean_sales.first_sale_date is null
                        or first_clean_sales.first_sale_date
                        > screened_by_value.order_date
                    )
                    then 'return_without_sale'
            end
        ) as quarantine_reason
    from screened_by_value
    left join first_clean_sales
        on screened_by_value.customer_id = first_clean_sales.customer_id
        and screened_by_value.product_id = first_clean_sales.product_id

),

final as (

    select
        line_id,
        source_file,
        source_line,
        quarantine_reason,
        case
            when quarantine_reason = 'duplicate_line' then first_source_file
        end as duplicate_of_source_file,
        case
            when quarantine_reason = 'duplicate_line' then first_source_line
        end as duplicate_of_source_line,
        order_id,
        order_ts,
        order_date,
        customer_id,
        parent_customer_id,
        customer_name,
        product_id,
        product_name,
        signed_quantity as quantity,
        unit_price,
        signed_net_amount as net_amount,
        unit_cost,
        is_return,
        is_cancellation,
        is_adjustment,
        is_non_product,
        has_bad_date,
        has_bad_quantity,
        has_bad_amount,
        has_bad_unit_cost,
        category as category_from_source,
        segment,
        rep_id,
        region,
        country,
        order_date_text,
        customer_id_text,
        product_id_text,
        quantity_text,
        unit_price_text,
        net_amount_text,
        unit_cost_text,
        parent_customer_id_text
    from screened

)

select * from final
