-- Migration 0007's definition, frozen: never edit (api/migrations/replaceable.py).
create or replace function idempotency_begin(p_scope text, p_key text, p_lock bigint)
returns table (acquired boolean, fingerprint text, status_code integer, response_body json)
language plpgsql volatile as $$
begin
    if not pg_try_advisory_xact_lock(p_lock) then
        return query select false, null::text, null::integer, null::json;
        return;
    end if;
    return query
        select true, k.fingerprint::text, k.status_code::integer, k.response_body::json
          from idempotency_keys k
         where k.scope = p_scope and k.key = p_key and k.expires_at > now();
    if not found then
        return query select true, null::text, null::integer, null::json;
    end if;
end
$$;
