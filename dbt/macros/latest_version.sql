{#- A row is extracted again on each day it changes; staging keeps each key's latest version. -#}
{% macro latest_version(relation, key='id') %}
    select *
    from (
        select
            *,
            row_number() over (partition by {{ key }} order by _partition_date desc) as _version_rank
        from {{ relation }}
    ) as versions
    where _version_rank = 1
{% endmacro %}
