-- Requests, latency percentiles and error rates per day and route.
select
    {{ utc_date('requested_at') }} as request_date,
    method,
    route,
    count(*)::bigint as requests_count,
    (count(*) filter (where status between 400 and 499))::bigint as client_error_count,
    (count(*) filter (where status >= 500))::bigint as server_error_count,
    round((count(*) filter (where status >= 500))::numeric / count(*), 4) as error_rate,
    percentile_cont(0.50) within group (order by duration_ms) as p50_ms,
    percentile_cont(0.95) within group (order by duration_ms) as p95_ms,
    percentile_cont(0.99) within group (order by duration_ms) as p99_ms
from {{ ref('stg_gateway__api_requests') }}
group by 1, method, route
