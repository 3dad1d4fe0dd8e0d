{# The SQL type for quantities and amounts: 8-byte floating point. #}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'longtail')()) }}
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{#
    The SQL type for money: a fixed-point decimal. Sums of decimals are exact,
    so a parallel aggregation gives the same total on every run; sums of
    doubles can differ in the last bits from run to run.
#}
{% macro type_money() -%}
    {{ return(adapter.dispatch('type_money', 'longtail')()) }}
{%- endmacro %}

{% macro default__type_money() -%}
    numeric(18, 4)
{%- endmacro %}

{# Largest amount a money column holds (18 digits, 4 after the point). #}
{% macro max_money() -%}
    99999999999999
{%- endmacro %}

{# True when a double is a real number: not NaN, not infinite. #}
{% macro is_finite(expression) -%}
    {{ return(adapter.dispatch('is_finite', 'longtail')(expression)) }}
{%- endmacro %}

{% macro duckdb__is_finite(expression) -%}
    isfinite({{ expression }})
{%- endmacro %}

{# NaN compares greater than every number, so it fails this range too. #}
{% macro default__is_finite(expression) -%}
    ({{ expression }} between -1e308 and 1e308)
{%- endmacro %}

{#
    A cast that gives null instead of failing. dbt.safe_cast falls back to a
    plain cast on adapters without an override, and dbt-duckdb 1.11 has none:
    one bad number would fail the whole build.
#}
{% macro try_cast(expression, type) -%}
    {{ return(adapter.dispatch('try_cast', 'longtail')(expression, type)) }}
{%- endmacro %}

{% macro duckdb__try_cast(expression, type) -%}
    try_cast({{ expression }} as {{ type }})
{%- endmacro %}

{% macro default__try_cast(expression, type) -%}
    {{ dbt.safe_cast(expression, type) }}
{%- endmacro %}

{#
    Trimmed text cast to a double; null when it is not a number. Besides
    plain numbers it reads amounts as spreadsheets and ERPs write them, where
    the reading is unambiguous: one currency sign before or after the
    number ('£12.00', '-$5', '12.00 €'), thousands grouped by spaces
    ('1 234.50'), or by commas when a decimal point or a second group shows
    that the comma separates thousands ('1,234.50', '1,234,567'). '1,234',
    '12,5' and '1.234,50' could each mean a thousand times more or less and
    stay null.
#}
{% macro cast_number(column) -%}
    {{ return(adapter.dispatch('cast_number', 'longtail')(column)) }}
{%- endmacro %}

{#
    The trimmed text of an amount with '.' as its decimal point. When the
    mapping declares a decimal comma, '.' and ',' swap places, so '1.234,50'
    reads as '1,234.50' and '12,5' as '12.5'.
#}
{% macro number_text(column) -%}
    {%- if decimal_separator() == ',' -%}
        translate(trim({{ column }}), '.,', ',.')
    {%- else -%}
        trim({{ column }})
    {%- endif -%}
{%- endmacro %}

{% macro duckdb__cast_number(column) -%}
    {%- set text = number_text(column) -%}
    case
        when {{ try_cast(text, type_double()) }} is not null
            then {{ try_cast(text, type_double()) }}
        when regexp_full_match({{ text }}, '{{ formatted_number_pattern() }}')
            then {{ try_cast(
                "regexp_replace(" ~ text ~ ", '[^0-9.+-]', '', 'g')",
                type_double(),
            ) }}
    end
{%- endmacro %}

{% macro default__cast_number(column) -%}
    {{ try_cast(number_text(column), type_double()) }}
{%- endmacro %}

{#
    A regular expression (RE2) for the formatted numbers cast_number reads:
    an optional sign, at most one currency sign (before, with the sign on
    either side of it, or after), and digits with '.' as the decimal point,
    grouped in thousands by commas or spaces (also no-break spaces).
#}
{% macro formatted_number_pattern() -%}
    {#- Block sets keep backslashes; Jinja string literals unescape them. -#}
    {%- set by_commas -%}
        [0-9]{1,3}(?:,[0-9]{3}){2,}(?:\.[0-9]+)?|[0-9]{1,3},[0-9]{3}\.[0-9]+
    {%- endset -%}
    {%- set by_spaces -%}
        [0-9]{1,3}(?:[ \x{00A0}\x{202F}][0-9]{3})+(?:\.[0-9]+)?
    {%- endset -%}
    {%- set plain -%}
        [0-9]+(?:\.[0-9]*)?|\.[0-9]+
    {%- endset -%}
    {%- set digits = '(?:' ~ by_commas | trim ~ '|' ~ by_spaces | trim
        ~ '|' ~ plain | trim ~ ')' -%}
    {%- set currency = '[£$€¥]' -%}
    {%- set signed_before = currency ~ ' ?[-+]?' ~ digits -%}
    {%- set signed_after = digits ~ ' ?' ~ currency -%}
    [-+]?(?:{{ signed_before }}|{{ signed_after }}|{{ digits }})
{%- endmacro %}

{# The double itself when it is finite, else null (NaN and infinities). #}
{% macro finite_or_null(expression) -%}
    case when {{ is_finite(expression) }} then {{ expression }} end
{%- endmacro %}

{#
    The end of a quarantine detail for text that cast_number could not read,
    as a SQL string: what a readable number looks like.
#}
{% macro number_expected() -%}
    {%- if decimal_separator() == ',' -%}
        {%- set point, group = "','", "'.'" -%}
    {%- else -%}
        {%- set point, group = "'.'", "','" -%}
    {%- endif -%}
    {{ sql_string(
        " is not a finite number: expected digits with " ~ point ~ " as the"
        ~ " decimal point (mapping: decimal_separator), thousands grouped by "
        ~ group ~ " or spaces if at all, and at most one currency sign; NaN"
        ~ " and infinity are not numbers"
    ) }}
{%- endmacro %}
