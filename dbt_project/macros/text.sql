{# Trimmed text, with empty text read as missing. #}
{% macro clean_text(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}

{#
    Customer ids arrive as text from sources that sometimes wrote them as
    floats or padded them: every white-space character is removed (ids are
    codes, and ' 12 345 ' or '12345\t' name the customer 12345), the rest
    upper-cased, and one trailing '.0' removed, so that '12345.0', ' 12345 '
    and 'ab12' / 'AB12' each name one customer. A float column's empty cell
    arrives as 'nan', which names no customer.
#}
{% macro normalise_customer_id(column) -%}
    {%- set upper_text = 'upper(' ~ remove_white_space(column) ~ ')' -%}
    nullif(
        case
            when {{ upper_text }} in ('NAN', 'NULL', 'NONE') then ''
            when {{ dbt.right(upper_text, "2") }} = '.0'
                then substr(
                    {{ upper_text }},
                    1,
                    {{ dbt.length(upper_text) }} - 2
                )
            else {{ upper_text }}
        end,
        ''
    )
{%- endmacro %}

{# Text without any white space, inside or around it. #}
{% macro remove_white_space(expression) -%}
    {{ return(adapter.dispatch('remove_white_space', 'longtail')(expression)) }}
{%- endmacro %}

{% macro duckdb__remove_white_space(expression) -%}
    regexp_replace({{ expression }}, '[\s\x{00A0}\x{202F}]+', '', 'g')
{%- endmacro %}

{% macro default__remove_white_space(expression) -%}
    replace(trim({{ expression }}), ' ', '')
{%- endmacro %}

{# Text for a quarantine detail: the value in quotes, or the word empty. #}
{% macro quoted_or_empty(column) -%}
    coalesce(
        {{ dbt.concat(["''''", column, "''''"]) }},
        'empty'
    )
{%- endmacro %}

{# True when text begins with prefix (both expressions). #}
{% macro starts_with(text, prefix) -%}
    substr({{ text }}, 1, {{ dbt.length(prefix) }}) = {{ prefix }}
{%- endmacro %}
