-- network_authorize_once(...): the network's authorization as one autocommitted statement: the
-- Idempotency-Key's lock and look-up (idempotency_begin), the authorization (network_authorize),
-- its answer built as the API's JSON (api.network.schemas.AuthorizationOut, byte for byte: a test
-- pins it) and stored for the key (idempotency_save). The outcome says what the caller answers:
-- 'ok' (200, the body), 'replayed' (the stored status and body), 'idempotency_key_in_use' (409),
-- 'idempotency_key_reused' (422), 'card_not_found' (404). A null key skips the key's steps.
-- Called by api.network.batching for api.network.service.authorize_batched (POST
-- /v1/network/authorizations), alone or for each message of network_authorize_many.
create or replace function network_authorize_once(
    p_scope text, p_key text, p_lock bigint, p_fingerprint text, p_ttl interval,
    p_id text, p_transfer_id text, p_card_id text, p_amount bigint, p_currency text,
    p_merchant_name text, p_merchant_mcc text, p_mcc_group text, p_merchant_country text,
    p_now timestamptz, p_issuing_currencies text[], p_max_amount bigint
) returns table (outcome text, status_code integer, body text)
language plpgsql volatile
-- Key look-ups only, here and in the functions it calls: index scans whatever a table's size when
-- the plan was cached (a plan cached while a table was small stayed a scan of it as it grew, until
-- its next ANALYZE; migration 0021).
set enable_seqscan = off
as $$
declare
    began record;
    a record;
    answer text;
begin
    if p_key is not null then
        select b.acquired, b.fingerprint, b.status_code, b.response_body::text as response_body
          into began from idempotency_begin(p_scope, p_key, p_lock) b;
        if not began.acquired then
            return query select 'idempotency_key_in_use', null::integer, null::text;
            return;
        end if;
        if began.fingerprint is not null then
            if began.fingerprint <> p_fingerprint then
                return query select 'idempotency_key_reused', null::integer, null::text;
            else
                return query select 'replayed', began.status_code, began.response_body;
            end if;
            return;
        end if;
    end if;
    select x.account_id, x.decline_code, x.available_credit into a
      from network_authorize(p_id, p_transfer_id, p_card_id, p_amount, p_currency, p_merchant_name,
                             p_merchant_mcc, p_mcc_group, p_merchant_country, p_now,
                             p_issuing_currencies, p_max_amount) x;
    if not found then
        return query select 'card_not_found', null::integer, null::text;
        return;
    end if;
    -- AuthorizationOut's fields in its order; the time as Python holds it (UTC).
    answer := '{"id":' || to_json(p_id)::text
        || ',"approved":' || case when a.decline_code is null then 'true' else 'false' end
        || ',"decline_code":' || coalesce(to_json(a.decline_code)::text, 'null')
        || ',"available_credit":' || a.available_credit::text
        || ',"amount":' || p_amount::text
        || ',"currency":' || to_json(p_currency)::text
        || ',"status":' || case when a.decline_code is null then '"pending"' else '"declined"' end
        || ',"card_id":' || to_json(p_card_id)::text
        || ',"account_id":' || to_json(a.account_id)::text
        || ',"created_at":' || json_timestamp(p_now, 'UTC')
        || '}';
    if p_key is not null then
        perform idempotency_save(p_scope, p_key, p_fingerprint, 200, answer, p_ttl);
    end if;
    return query select 'ok', 200, answer;
end
$$;
