{#
    Renders a value as a SQL string literal with single quotes doubled, or
    null. Every var reaches SQL through this macro, never spliced raw.
#}
{% macro sql_string(value) -%}
    {%- if value is none -%}
        null
    {%- else -%}
        '{{ (value | string).replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}
