-- network_resolve_many(...): several of the network's clears and reversals in one statement, so
-- one transaction and one commit (one WAL flush) serve them all: network_resolve_once for each
-- message in array order, each answer in its row (message_index = the message's index, from 1).
-- First the authorizations' rows, then their receivables, then the house shards their holds
-- credit (ledger_house), are locked, each in id order: the order of a single resolve (its row,
-- its receivable, its house shard) and of network_authorize_many (receivables, then house
-- shards), so batches and single messages never wait on each other in a cycle. A message's
-- rules, its Idempotency-Key's steps and its answer are network_resolve_once's, unchanged: only
-- the commit is shared. An error in one message rolls back the whole statement; the caller then
-- sends each message on its own (api.network.batching).
-- Called by api.network.batching (POST /v1/network/authorizations/{id}/clear, /reverse under
-- concurrent load).
create or replace function network_resolve_many(
    p_scopes text[], p_keys text[], p_locks bigint[], p_fingerprints text[], p_ttls interval[],
    p_ids text[], p_actions text[], p_amounts bigint[], p_nows timestamptz[], p_transfer_ids text[],
    p_tipping_mccs text[], p_tip_bps integer
) returns table (message_index integer, outcome text, max_amount bigint, status_code integer, body text)
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
    perform 1
       from transactions t
      where t.id = any(p_ids) and t.type = 'purchase'
      order by t.id
        for update;
    perform ledger_lock_customers(array(select t.account_id from transactions t where t.id = any(p_ids)));
    for i in 1 .. coalesce(array_length(p_ids, 1), 0) loop
        select o.outcome, o.max_amount, o.status_code, o.body into answer
          from network_resolve_once(
              p_scopes[i], p_keys[i], p_locks[i], p_fingerprints[i], p_ttls[i], p_ids[i],
              p_actions[i], p_amounts[i], p_nows[i], p_transfer_ids[i], p_tipping_mccs, p_tip_bps) o;
        message_index := i;
        outcome := answer.outcome;
        max_amount := answer.max_amount;
        status_code := answer.status_code;
        body := answer.body;
        return next;
    end loop;
end
$$;
