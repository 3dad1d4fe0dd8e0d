{#
    Custom schemas are used verbatim (staging, intermediate, marts) instead of
    dbt's default <target_schema>_<custom_schema>, so that other code can read
    marts.order_lines whatever the target.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
