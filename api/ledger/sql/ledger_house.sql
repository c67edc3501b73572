-- ledger_house(kind, account_id): the house account of ``kind`` a customer account uses, one
-- of 16 shards chosen by the account's id, so no single house row is a hot spot.
-- Called by ledger_hold (SQL) and bench/benchmarks/incremental_day.py; Python computes the same
-- in api.ledger.service.house_shard (HOUSE_SHARDS = 16), and
-- tests/api/ledger/test_service.py::test_the_house_shard_is_the_same_in_python_and_in_the_database
-- pins the two together.
create or replace function ledger_house(p_kind text, p_account_id text) returns text
language sql immutable strict parallel safe as $$
    select 'house:' || p_kind || ':'
           || lpad(mod(get_byte(sha256(convert_to(p_account_id, 'UTF8')), 0), 16)::text, 2, '0')
$$;
