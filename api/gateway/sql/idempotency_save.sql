-- idempotency_save(scope, key, fingerprint, status, body, ttl): store a request's answer for its
-- Idempotency-Key beside the request's writes (exactly-once requests, docs: API.md
-- "Idempotency-Key"). An expired row with the same key is replaced, never a live one (the caller
-- holds the key's advisory lock and idempotency_begin saw none). The body is stored as json, not
-- jsonb: a replay answers the same bytes in the same key order.
-- Called by network_authorize_once and network_resolve_once (the network's hot routes); the
-- other routes store theirs with the same statement from api.gateway.idempotency.
create or replace function idempotency_save(
    p_scope text, p_key text, p_fingerprint text, p_status_code integer, p_body text, p_ttl interval
) returns void
language sql volatile as $$
    insert into idempotency_keys as k
        (scope, key, fingerprint, status_code, response_body, created_at, expires_at)
    values (p_scope, p_key, p_fingerprint, p_status_code, cast(p_body as json), now(), now() + p_ttl)
    on conflict (scope, key) do update set
        fingerprint = excluded.fingerprint, status_code = excluded.status_code,
        response_body = excluded.response_body, created_at = excluded.created_at,
        expires_at = excluded.expires_at;
$$;
