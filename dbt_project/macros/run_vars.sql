{#
    Validated access to the vars the orchestration passes. Both raise a
    compiler error naming the var and the bad value.
#}

{# The as-of date as a SQL date literal, or a null date when it is absent. #}
{% macro as_of_date_literal() -%}
    {%- set value = var('as_of_date', none) -%}
    {%- set text = value | string | trim -%}
    {%- if value is none or text in ('', 'null', 'None') -%}
        cast(null as date)
    {%- else -%}
        {%- set match = modules.re.fullmatch(
            '([0-9]{4})-([0-9]{2})-([0-9]{2})', text
        ) -%}
        {%- set month = match.group(2) | int if match else 0 -%}
        {%- set day = match.group(3) | int if match else 0 -%}
        {%- if match and 1 <= month <= 12 -%}
            {%- set year = match.group(1) | int -%}
            {%- set first_of_next = modules.datetime.date(
                year + month // 12, month % 12 + 1, 1
            ) -%}
            {%- set month_days = (
                first_of_next - modules.datetime.timedelta(days=1)
            ).day -%}
        {%- endif -%}
        {%- if not match or not (1 <= month <= 12)
            or not (1 <= day <= month_days) -%}
            {{ exceptions.raise_compiler_error(
                "var as_of_date must be a real date 'YYYY-MM-DD' or null;"
                ~ " got '" ~ text ~ "'"
            ) }}
        {%- endif -%}
        cast({{ sql_string(text) }} as date)
    {%- endif -%}
{%- endmacro %}

{# The list of strptime formats for order_date, checked to be strings. #}
{% macro order_date_formats() -%}
    {%- set formats = var('order_date_formats') -%}
    {%- if formats is string
        or formats is not iterable
        or formats | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "var order_date_formats must be a non-empty list of strptime"
            ~ " formats; got " ~ formats
        ) }}
    {%- endif -%}
    {%- for fmt in formats -%}
        {%- if fmt is not string or (fmt | trim) == '' -%}
            {{ exceptions.raise_compiler_error(
                "var order_date_formats item " ~ loop.index
                ~ " must be a non-empty string; got " ~ fmt
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(formats) }}
{%- endmacro %}

{# The decimal separator of amounts in the export: '.' (default) or ','. #}
{% macro decimal_separator() -%}
    {%- set value = var('decimal_separator', '.') | string -%}
    {%- if value not in ('.', ',') -%}
        {{ exceptions.raise_compiler_error(
            "var decimal_separator must be '.' or ','; got '" ~ value ~ "'"
        ) }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}
