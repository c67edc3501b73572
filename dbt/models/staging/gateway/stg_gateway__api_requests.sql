-- A request is one log line: (day, line number) is its key; request ids may repeat (clients send them).
select
    _partition_date || ':' || line_number as request_key,
    request_id,
    requested_at,
    method,
    coalesce(route, '(unmatched)') as route,
    status,
    duration_ms,
    caller_key,
    caller_role,
    bytes_in,
    bytes_out,
    error_code
from {{ source('raw', 'api_requests') }}
