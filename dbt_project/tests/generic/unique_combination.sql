{#
    Fails for every combination of the given columns that occurs on more than
    one row: the key of a model whose grain is several columns.
#}
{% test unique_combination(model, columns) %}

with

key_counts as (

    select
        {{ columns | join(', ') }},
        count(*) as n_rows
    from {{ model }}
    group by {{ columns | join(', ') }}

),

repeated as (

    select *
    from key_counts
    where n_rows > 1

)

select * from repeated

{% endtest %}
