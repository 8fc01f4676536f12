{#- A model of the ml schema drops its file's `ml_` prefix: ml.training_snapshots, not
    ml.ml_training_snapshots. Model names stay unique across the project (dbt wants that, and
    the asset graph shows them), and the relation says ml once. Otherwise dbt's own rule. -#}
{% macro generate_alias_name(custom_alias_name=none, node=none) -%}
    {%- if custom_alias_name -%}
        {{ custom_alias_name | trim }}
    {%- elif node.version -%}
        {{ return(node.name ~ "_v" ~ (node.version | replace(".", "_"))) }}
    {%- elif node.config.schema == "ml" and node.name.startswith("ml_") -%}
        {{ node.name[3:] }}
    {%- else -%}
        {{ node.name }}
    {%- endif -%}
{%- endmacro %}
