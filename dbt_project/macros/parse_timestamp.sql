{#
    Parses a text column into a timestamp, trying each strptime format in
    order; null when none matches.
#}
{% macro parse_timestamp(column, formats) -%}
    {{ return(adapter.dispatch('parse_timestamp', 'longtail')(
        column, formats
    )) }}
{%- endmacro %}

{% macro duckdb__parse_timestamp(column, formats) -%}
    coalesce(
        {%- for fmt in formats %}
        try_strptime({{ column }}, {{ sql_string(fmt) }}),
        {%- endfor %}
        cast(null as timestamp)
    )
{%- endmacro %}

{#
    Without a strptime of its own, an adapter can only read ISO text, which
    its cast understands; any other format is refused at compile time rather
    than misread.
#}
{% macro default__parse_timestamp(column, formats) -%}
    {%- set iso_formats = [
        '%Y-%m-%d %H:%M:%S', '%Y-%m-%d', '%Y-%m-%dT%H:%M:%S',
    ] -%}
    {%- for fmt in formats -%}
        {%- if fmt not in iso_formats -%}
            {{ exceptions.raise_compiler_error(
                "parse_timestamp has no implementation for adapter '"
                ~ adapter.type() ~ "' and format '" ~ fmt ~ "'; add "
                ~ adapter.type() ~ "__parse_timestamp"
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {{ dbt.safe_cast(column, api.Column.translate_type('timestamp')) }}
{%- endmacro %}
