-- Every raw line comes out exactly once: either clean or quarantined with a
-- reason. Returns one row per broken count, naming it.

{{ config(meta={'dagster': {'ref': {'name': 'order_lines'}}}) }}

with

raw_lines as (

    select * from {{ source('raw', 'order_lines') }}

),

clean_lines as (

    select * from {{ ref('order_lines') }}

),

quarantined_lines as (

    select * from {{ ref('order_lines_quarantine') }}

),

counts as (

    select
        (select count(*) from raw_lines) as n_raw,
        (select count(*) from clean_lines) as n_clean,
        (select count(*) from quarantined_lines) as n_quarantined,
        (
            select count(*)
            from quarantined_lines
            where quarantine_reason is null
        ) as n_quarantined_without_reason,
        (
            select count(*)
            from clean_lines
            inner join quarantined_lines
                on clean_lines.line_id = quarantined_lines.line_id
        ) as n_both_clean_and_quarantined

),

broken as (

    select
        'raw lines differ from clean plus quarantined' as problem,
        n_raw,
        n_clean,
        n_quarantined
    from counts
    where n_raw <> n_clean + n_quarantined

    union all

    select
        'quarantined lines without a reason' as problem,
        n_raw,
        n_clean,
        n_quarantined_without_reason
    from counts
    where n_quarantined_without_reason > 0

    union all

    select
        'lines both clean and quarantined' as problem,
        n_raw,
        n_clean,
        n_both_clean_and_quarantined
    from counts
    where n_both_clean_and_quarantined > 0

)

select * from broken
