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

{# Trimmed text cast to a double; null when it is not a number. #}
{% macro cast_number(column) -%}
    {{ try_cast('trim(' ~ column ~ ')', type_double()) }}
{%- endmacro %}

{# The double itself when it is finite, else null (NaN and infinities). #}
{% macro finite_or_null(expression) -%}
    case when {{ is_finite(expression) }} then {{ expression }} end
{%- endmacro %}
