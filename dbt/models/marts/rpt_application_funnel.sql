-- Applications per day: applied, approved, declined (and the most common decline reason), manual review.
with

applications as (
    select *, {{ utc_date('created_at') }} as application_date
    from {{ ref('stg_cardportal__applications') }}
),

decline_reasons as (
    select application_date, reason, count(*) as reason_count
    from applications, unnest(reasons) as reason
    where status = 'declined'
    group by application_date, reason
),

top_reason as (
    select distinct on (application_date) application_date, reason
    from decline_reasons
    order by application_date, reason_count desc, reason
)

select
    applications.application_date,
    count(*)::bigint as applied_count,
    (count(*) filter (where applications.status = 'approved'))::bigint as approved_count,
    (count(*) filter (where applications.status = 'declined'))::bigint as declined_count,
    (count(*) filter (where applications.status = 'manual_review'))::bigint as manual_review_count,
    round((count(*) filter (where applications.status = 'approved'))::numeric / count(*), 4) as approval_rate,
    min(top_reason.reason) as top_decline_reason
from applications
left join top_reason on top_reason.application_date = applications.application_date
group by applications.application_date
