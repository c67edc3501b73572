-- ledger_lock_customers(p_account_ids): the card accounts' receivables, then their network
-- settlement house shards (ledger_house), locked FOR UPDATE, each kind in id order. A single
-- transfer locks in that order too (its receivable first, then its house shard), so a statement
-- that writes several customers' transfers and takes all their locks first this way never waits
-- on another such statement, or on a single transfer, in a cycle.
-- Called by network_authorize_many and network_resolve_many (api.network.batching).
create or replace function ledger_lock_customers(p_account_ids text[]) returns void
language plpgsql volatile as $$
begin
    perform 1
       from ledger_accounts l
      where l.id in (select a || ':receivable' from unnest(p_account_ids) a)
      order by l.id
        for update;
    perform 1
       from ledger_accounts l
      where l.id in (select ledger_house('network_settlement', a) from unnest(p_account_ids) a)
      order by l.id
        for update;
end
$$;
