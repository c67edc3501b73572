with source as (
    {{ latest_version(source('raw', 'audit_events')) }}
)

select
    id as audit_event_id,
    action,
    actor_role,
    actor_key,
    request_id,
    created_at
from source
