-- Every raw line comes out exactly once: either clean or quarantined with a
-- reason, in total and per source file, and every file holds as many lines
-- as the ingest step counted when it read it. Returns one row per broken
-- count, naming it (source_file is null for the totals).

{{ config(meta={'dagster': {'ref': {'name': 'order_lines'}}}) }}

with

raw_lines as (

    select * from {{ source('raw', 'order_lines') }}

),

ingest_files as (

    select * from {{ source('raw', 'ingest_files') }}

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

file_names as (

    select source_file from raw_lines
    union
    select source_file from ingest_files
    union
    select source_file from clean_lines
    union
    select source_file from quarantined_lines

),

raw_by_file as (

    select
        source_file,
        count(*) as n_lines
    from raw_lines
    group by source_file

),

clean_by_file as (

    select
        source_file,
        count(*) as n_lines
    from clean_lines
    group by source_file

),

quarantined_by_file as (

    select
        source_file,
        count(*) as n_lines
    from quarantined_lines
    group by source_file

),

file_counts as (

    select
        file_names.source_file,
        ingest_files.rows as n_read,
        coalesce(raw_by_file.n_lines, 0) as n_raw,
        coalesce(clean_by_file.n_lines, 0) as n_clean,
        coalesce(quarantined_by_file.n_lines, 0) as n_quarantined
    from file_names
    left join ingest_files
        on file_names.source_file = ingest_files.source_file
    left join raw_by_file
        on file_names.source_file = raw_by_file.source_file
    left join clean_by_file
        on file_names.source_file = clean_by_file.source_file
    left join quarantined_by_file
        on file_names.source_file = quarantined_by_file.source_file

),

broken as (

    select
        'raw lines differ from clean plus quarantined' as problem,
        cast(null as {{ dbt.type_string() }}) as source_file,
        n_raw,
        n_clean,
        n_quarantined,
        n_raw - n_clean - n_quarantined as n_offending
    from counts
    where n_raw <> n_clean + n_quarantined

    union all

    select
        'quarantined lines without a reason' as problem,
        cast(null as {{ dbt.type_string() }}) as source_file,
        n_raw,
        n_clean,
        n_quarantined,
        n_quarantined_without_reason as n_offending
    from counts
    where n_quarantined_without_reason > 0

    union all

    select
        'lines both clean and quarantined' as problem,
        cast(null as {{ dbt.type_string() }}) as source_file,
        n_raw,
        n_clean,
        n_quarantined,
        n_both_clean_and_quarantined as n_offending
    from counts
    where n_both_clean_and_quarantined > 0

    union all

    select
        'raw lines of a file differ from its clean plus quarantined'
            as problem,
        source_file,
        n_raw,
        n_clean,
        n_quarantined,
        n_raw - n_clean - n_quarantined as n_offending
    from file_counts
    where n_raw <> n_clean + n_quarantined

    union all

    -- n_offending: raw lines minus the lines the ingest step counted.
    select
        'raw lines of a file differ from the lines the ingest read'
            as problem,
        source_file,
        n_raw,
        n_clean,
        n_quarantined,
        n_raw - coalesce(n_read, 0) as n_offending
    from file_counts
    where n_read is null or n_read <> n_raw

)

select * from broken
