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

dated_lines as (

    select order_date
    from signed
    where order_date >= cast('1990-01-01' as date)

),

date_counts as (

    select
        order_date,
        count(*) as n_lines
    from dated_lines
    group by order_date

),

date_tails as (

    -- For each order date: the lines dated on or after it, and the previous
    -- order date, so that a gap of over a year before a short tail shows.
    select
        order_date,
        lag(order_date) over (order by order_date) as previous_order_date,
        sum(n_lines) over (
            order by order_date desc
            rows between unbounded preceding and current row
        ) as n_lines_on_or_after
    from date_counts

),

date_bounds as (

    select
        count(*) as n_dated_lines,
        percentile_disc(0.999) within group (order by order_date)
            as p999_order_date
    from dated_lines

),

date_horizon as (

    -- A far-future typo ('2101' for '2011') would become the default as-of
    -- date and empty every trailing window. Implausible: dates more than a
    -- year after the 99.9th percentile of all order dates, and a short tail
    -- (at most 10 lines or 0.1% of them) that follows a year without orders.
    -- The tail rule is what catches a typo in a small export, where the
    -- percentile is the typo itself.
    select
        least(
            cast({{ dbt.dateadd(
                'day', 366, 'date_bounds.p999_order_date'
            ) }} as date),
            min(
                case
                    when date_tails.previous_order_date < cast({{ dbt.dateadd(
                        'day', -365, 'date_tails.order_date'
                    ) }} as date)
                        and date_tails.n_lines_on_or_after
                        <= greatest(10, 0.001 * date_bounds.n_dated_lines)
                        then date_tails.order_date
                end
            )
        ) as first_implausible_date
    from date_bounds
    cross join date_tails
    group by date_bounds.p999_order_date

),

plausible_period as (

    select
        date_horizon.first_implausible_date,
        max(date_counts.order_date) as last_plausible_date
    from date_horizon
    inner join date_counts
        on date_counts.order_date < date_horizon.first_implausible_date
    group by date_horizon.first_implausible_date

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

horizoned as (

    select
        ranked_duplicates.*,
        plausible_period.first_implausible_date,
        plausible_period.last_plausible_date
    from ranked_duplicates
    left join plausible_period
        on true

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
            when order_date >= first_implausible_date
                then 'date_far_in_future'
            when is_non_product then 'non_product_code'
            when is_adjustment then 'adjustment'
            when quantity = 0 then 'zero_quantity'
            when unit_price <= 0
                or signed_net_amount = 0
                or (not is_return and signed_net_amount < 0)
                then 'non_positive_price'
            when duplicate_rank > 1 then 'duplicate_line'
        end as value_reason
    from horizoned

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
        case
            when quarantine_reason = 'date_far_in_future'
                then last_plausible_date
        end as last_plausible_date,
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
