with

mapping_rules as (

    select * from {{ source('raw', 'mapping_rules') }}

),

cleaned as (

    select distinct
        trim(rule) as rule,
        upper(trim(value)) as value
    from mapping_rules
    where {{ clean_text('rule') }} is not null
        and {{ clean_text('value') }} is not null

)

select * from cleaned
