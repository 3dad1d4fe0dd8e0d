with

order_lines as (

    select * from {{ ref('stg_orders__order_lines') }}

),

screened as (

    select * from {{ ref('int_order_lines__screened') }}

),

raw_counts as (

    select count(*) as n_lines_raw
    from order_lines

),

screened_counts as (

    select
        sum(case when quarantine_reason is null then 1 else 0 end)
            as n_lines_clean,
        sum(case when quarantine_reason is not null then 1 else 0 end)
            as n_lines_quarantined,
        min(case when quarantine_reason is null then order_date end)
            as data_first_date,
        max(case when quarantine_reason is null then order_date end)
            as data_last_date
    from screened

),

context as (

    select
        coalesce(
            {{ as_of_date_literal() }},
            screened_counts.data_last_date
        ) as as_of_date,
        screened_counts.data_first_date,
        screened_counts.data_last_date,
        raw_counts.n_lines_raw,
        coalesce(screened_counts.n_lines_clean, 0) as n_lines_clean,
        coalesce(screened_counts.n_lines_quarantined, 0)
            as n_lines_quarantined
    from raw_counts
    cross join screened_counts

),

final as (

    -- The trailing twelve months are the 365 days ending on as_of_date.
    select
        as_of_date,
        cast({{ dbt.dateadd('day', -364, 'as_of_date') }} as date)
            as ttm_start_date,
        data_first_date,
        data_last_date,
        n_lines_raw,
        n_lines_clean,
        n_lines_quarantined
    from context

)

select * from final
