{#
    Aggregate: the value of a text column on the row with the highest rank
    among rows where it is not null. rank_column must be unique within the
    group so that the choice is deterministic.
#}
{% macro latest_non_null(column, rank_column) -%}
    {{ return(adapter.dispatch('latest_non_null', 'longtail')(
        column, rank_column
    )) }}
{%- endmacro %}

{% macro duckdb__latest_non_null(column, rank_column) -%}
    arg_max({{ column }}, {{ rank_column }})
        filter (where {{ column }} is not null)
{%- endmacro %}

{# Zero-padded rank before the value, so max() on text picks the latest. #}
{% macro default__latest_non_null(column, rank_column) -%}
    substr(
        max(
            case
                when {{ column }} is not null
                    then {{ dbt.concat([
                        "lpad(" ~ dbt.cast(rank_column, dbt.type_string())
                        ~ ", 20, '0')",
                        column,
                    ]) }}
            end
        ),
        21
    )
{%- endmacro %}
