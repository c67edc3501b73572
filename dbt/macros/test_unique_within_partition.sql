{#- A key may appear once per extracted day: a second copy in one slice is a duplicate, not a new version. -#}
{% test unique_within_partition(model, column_name) %}
select {{ column_name }}, _partition_date, count(*) as copies
from {{ model }}
group by {{ column_name }}, _partition_date
having count(*) > 1
{% endtest %}
