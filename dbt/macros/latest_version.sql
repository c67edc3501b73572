{#- A row is extracted again on each day it changes; staging keeps each key's latest version
    (one sort and a unique pass: cheaper than a row_number() window filtered to rank 1). -#}
{% macro latest_version(relation, key='id') %}
    select distinct on ({{ key }}) *
    from {{ relation }}
    order by {{ key }}, _partition_date desc
{% endmacro %}
