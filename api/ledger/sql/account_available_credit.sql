-- account_available_credit(credit_limit, posted_balance, pending_balance): a card account's
-- available credit, in cents: its limit less what it owes (posted) and what is held (pending).
-- Negative when the account is over its limit (interest and fees may take it there).
-- The one definition in SQL: ledger_hold (the ledger's invariant 5, a hold never takes the
-- account past its limit) and network_authorize (the insufficient_credit decline) call it.
-- Python's copy, for the accounts the API describes without a round trip per account, is
-- api.ledger.service.available_credit; tests/api/test_db_functions.py pins the two together.
create or replace function account_available_credit(
    p_credit_limit bigint, p_posted_balance bigint, p_pending_balance bigint
) returns bigint
language sql immutable strict parallel safe as $$
    select p_credit_limit - p_posted_balance - p_pending_balance
$$;
