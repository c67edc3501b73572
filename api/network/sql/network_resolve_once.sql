-- network_resolve_once(...): the network's clear and reverse as one autocommitted statement: the
-- Idempotency-Key's lock and look-up (idempotency_begin), network_resolve, the transaction built
-- as the API's JSON (api.network.schemas.TransactionOut, byte for byte: a test pins it) and
-- stored for the key (idempotency_save). The outcome is network_resolve's ('ok' with the body;
-- its error codes, and max_amount for clear_exceeds_authorization, with nothing written), or
-- 'replayed' (the stored status and body), 'idempotency_key_in_use', 'idempotency_key_reused'.
-- A null key skips the key's steps.
-- Called by api.network.batching for api.network.service.resolve_batched (POST
-- /v1/network/authorizations/{id}/clear, /reverse), alone or for each message of network_resolve_many.
create or replace function network_resolve_once(
    p_scope text, p_key text, p_lock bigint, p_fingerprint text, p_ttl interval,
    p_authorization_id text, p_action text, p_amount bigint, p_now timestamptz, p_transfer_id text,
    p_tipping_mccs text[], p_tip_bps integer
) returns table (outcome text, max_amount bigint, status_code integer, body text)
language plpgsql volatile
-- Key look-ups only, here and in the functions it calls: index scans whatever a table's size when
-- the plan was cached (a plan cached while a table was small stayed a scan of it as it grew, until
-- its next ANALYZE; migration 0021).
set enable_seqscan = off
as $$
declare
    began record;
    r record;
    answer text;
begin
    if p_key is not null then
        select b.acquired, b.fingerprint, b.status_code, b.response_body::text as response_body
          into began from idempotency_begin(p_scope, p_key, p_lock) b;
        if not began.acquired then
            return query select 'idempotency_key_in_use', null::bigint, null::integer, null::text;
            return;
        end if;
        if began.fingerprint is not null then
            if began.fingerprint <> p_fingerprint then
                return query select 'idempotency_key_reused', null::bigint, null::integer, null::text;
            else
                return query select 'replayed', null::bigint, began.status_code, began.response_body;
            end if;
            return;
        end if;
    end if;
    select * into r from network_resolve(p_authorization_id, p_action, p_amount, p_now, p_transfer_id,
                                          p_tipping_mccs, p_tip_bps) x;
    if r.outcome <> 'ok' then
        return query select r.outcome, r.max_amount, null::integer, null::text;
        return;
    end if;
    -- TransactionOut's fields in its order; times as psycopg hands them to Python (the
    -- session's time zone).
    answer := '{"id":' || to_json(r.id)::text
        || ',"account_id":' || to_json(r.account_id)::text
        || ',"card_id":' || coalesce(to_json(r.card_id)::text, 'null')
        || ',"type":' || to_json(r.type)::text
        || ',"status":' || to_json(r.status)::text
        || ',"amount":' || r.amount::text
        || ',"currency":' || to_json(r.currency)::text
        || ',"authorized_amount":' || coalesce(r.authorized_amount::text, 'null')
        || ',"merchant":' || case when r.merchant_name is null then 'null' else
               '{"name":' || to_json(r.merchant_name)::text
               || ',"mcc":' || to_json(coalesce(r.merchant_mcc, ''))::text
               || ',"country":' || coalesce(to_json(r.merchant_country)::text, 'null') || '}' end
        || ',"decline_code":' || coalesce(to_json(r.decline_code)::text, 'null')
        || ',"closed_reason":' || coalesce(to_json(r.closed_reason)::text, 'null')
        || ',"original_transaction_id":' || coalesce(to_json(r.original_transaction_id)::text, 'null')
        || ',"refunded_amount":' || r.refunded_amount::text
        || ',"created_at":' || json_timestamp(r.created_at)
        || ',"posted_at":' || json_timestamp(r.posted_at)
        || '}';
    if p_key is not null then
        perform idempotency_save(p_scope, p_key, p_fingerprint, 200, answer, p_ttl);
    end if;
    return query select 'ok', null::bigint, 200, answer;
end
$$;
