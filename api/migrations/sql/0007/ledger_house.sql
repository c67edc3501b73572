-- Migration 0007's definition, frozen: never edit (api/migrations/replaceable.py).
create or replace function ledger_house(p_kind text, p_account_id text) returns text
language sql immutable strict parallel safe as $$
    select 'house:' || p_kind || ':'
           || lpad(mod(get_byte(sha256(convert_to(p_account_id, 'UTF8')), 0), 16)::text, 2, '0')
$$;
