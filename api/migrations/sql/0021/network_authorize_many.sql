-- Migration 0021's definition, frozen: never edit (api/migrations/replaceable.py).
-- network_authorize_many(...): several of the network's authorizations in one statement, so one
-- transaction and one commit (one WAL flush) serve them all: network_authorize_once for each
-- message in array order, each answer in its row (message_index = the message's index, from 1).
-- First every receivable the messages' cards hold, then every house shard their holds credit
-- (ledger_house), are locked in id order: two batches, or a batch and a single authorization
-- (which locks its receivable, then its house shard), never wait on each other in a cycle.
-- A message's rules, its Idempotency-Key's steps and its answer are network_authorize_once's,
-- unchanged: only the commit is shared. An error in one message rolls back the whole
-- statement; the caller then sends each message on its own (api.network.batching).
-- Called by api.network.batching (POST /v1/network/authorizations under concurrent load).
create or replace function network_authorize_many(
    p_scopes text[], p_keys text[], p_locks bigint[], p_fingerprints text[], p_ttls interval[],
    p_ids text[], p_transfer_ids text[], p_card_ids text[], p_amounts bigint[], p_currencies text[],
    p_merchant_names text[], p_merchant_mccs text[], p_mcc_groups text[], p_merchant_countries text[],
    p_nows timestamptz[], p_issuing_currencies text[], p_max_amount bigint
) returns table (message_index integer, outcome text, status_code integer, body text)
language plpgsql volatile
-- Key look-ups only, here and in the functions it calls: index scans whatever a table's size when
-- the plan was cached (a plan cached while a table was small stayed a scan of it as it grew, until
-- its next ANALYZE; migration 0021).
set enable_seqscan = off
as $$
#variable_conflict use_column
declare
    i integer;
    answer record;
begin
    perform ledger_lock_customers(array(select c.account_id from cards c where c.id = any(p_card_ids)));
    for i in 1 .. coalesce(array_length(p_ids, 1), 0) loop
        select o.outcome, o.status_code, o.body into answer
          from network_authorize_once(
              p_scopes[i], p_keys[i], p_locks[i], p_fingerprints[i], p_ttls[i], p_ids[i],
              p_transfer_ids[i], p_card_ids[i], p_amounts[i], p_currencies[i], p_merchant_names[i],
              p_merchant_mccs[i], p_mcc_groups[i], p_merchant_countries[i], p_nows[i],
              p_issuing_currencies, p_max_amount) o;
        message_index := i;
        outcome := answer.outcome;
        status_code := answer.status_code;
        body := answer.body;
        return next;
    end loop;
end
$$;
