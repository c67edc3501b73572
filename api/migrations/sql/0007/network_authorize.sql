-- Migration 0007's definition, frozen: never edit (api/migrations/replaceable.py).
create or replace function network_authorize(
    p_id text, p_transfer_id text, p_card_id text, p_amount bigint, p_currency text,
    p_merchant_name text, p_merchant_mcc text, p_mcc_group text, p_merchant_country text,
    p_now timestamptz, p_issuing_currencies text[], p_max_amount bigint
) returns table (account_id text, decline_code text, available_credit bigint)
language plpgsql volatile as $$
declare
    ctx record;
    decline text;
    available bigint;
    controls jsonb;
    day_start timestamptz := date_trunc('day', p_now, 'UTC');
    month_start timestamptz := date_trunc('month', p_now, 'UTC');
    spent bigint;
    held text;
begin
    -- One round trip instead of three: the card, its account, and the account's
    -- receivable locked (FOR UPDATE OF the receivable only), so spending-control
    -- sums and the credit check see every concurrent authorization on the account.
    select c.status as card_status, c.exp_year, c.exp_month, c.controls,
           a.id as account_id, a.status as account_status, a.currency, a.credit_limit,
           l.id as receivable, l.posted_balance, l.pending_balance
      into ctx
      from cards c
      join accounts a on a.id = c.account_id
      join ledger_accounts l on l.id = a.id || ':receivable'
     where c.id = p_card_id
       for update of l;
    if not found then
        return;
    end if;

    if not (p_currency = any(p_issuing_currencies)) or p_currency <> ctx.currency then
        decline := 'currency_not_supported';
    elsif ctx.account_status <> 'active' then
        decline := 'account_closed';
    elsif ctx.card_status = 'frozen' then
        decline := 'card_frozen';
    elsif ctx.card_status <> 'active' then
        decline := 'card_closed';
    -- A card is valid through the last day of its expiry month.
    elsif (extract(year from p_now at time zone 'UTC')::int, extract(month from p_now at time zone 'UTC')::int)
          > (ctx.exp_year, ctx.exp_month) then
        decline := 'card_expired';
    elsif p_amount > p_max_amount then
        decline := 'amount_too_large';
    end if;

    -- Spending controls (api.cards.controls documents them): blocked groups and
    -- countries, the per-authorization cap, and the day's and month's spending
    -- (holds and clears, less reversals) plus this authorization within the limits.
    controls := coalesce(ctx.controls, '{}'::jsonb);
    if decline is null and controls <> '{}'::jsonb then
        if coalesce(controls -> 'blocked_mcc_groups', '[]'::jsonb) ? p_mcc_group
           or coalesce(controls -> 'blocked_countries', '[]'::jsonb) ? p_merchant_country
           or p_amount > coalesce((controls ->> 'per_authorization_limit')::bigint, p_amount) then
            decline := 'spending_control';
        end if;
        if decline is null and controls ->> 'daily_limit' is not null then
            select coalesce(sum(t.amount), 0) into spent from transactions t
             where t.card_id = p_card_id and t.type = 'purchase'
               and t.status in ('pending', 'posted') and t.created_at >= day_start;
            if spent + p_amount > (controls ->> 'daily_limit')::bigint then
                decline := 'spending_control';
            end if;
        end if;
        if decline is null and controls ->> 'monthly_limit' is not null then
            select coalesce(sum(t.amount), 0) into spent from transactions t
             where t.card_id = p_card_id and t.type = 'purchase'
               and t.status in ('pending', 'posted') and t.created_at >= month_start;
            if spent + p_amount > (controls ->> 'monthly_limit')::bigint then
                decline := 'spending_control';
            end if;
        end if;
    end if;

    -- The transaction row first, then the hold: the house account the hold
    -- updates stays locked for as short as possible. The credit check comes first
    -- here to record a decline; ledger_hold enforces rule 5 again as it holds.
    available := ctx.credit_limit - ctx.posted_balance - ctx.pending_balance;
    if decline is null and p_amount > available then
        decline := 'insufficient_credit';
    end if;
    insert into transactions
        (id, account_id, card_id, type, status, amount, authorized_amount, currency,
         merchant_name, merchant_mcc, merchant_country, decline_code, hold_transfer_id,
         refunded_amount, created_at)
    values
        (p_id, ctx.account_id, p_card_id, 'purchase',
         case when decline is null then 'pending' else 'declined' end,
         p_amount, p_amount, p_currency, p_merchant_name, p_merchant_mcc, p_merchant_country,
         decline, case when decline is null then p_transfer_id end, 0, p_now);
    if decline is null then
        select h.outcome, h.available into held, available
          from ledger_hold(p_transfer_id, ctx.account_id, p_amount, ctx.credit_limit, p_currency, p_now, p_id) h;
        if held <> 'ok' then
            raise exception 'hold of % on % refused after its checks: %', p_amount, ctx.account_id, held;
        end if;
    end if;
    return query select ctx.account_id::text, decline, available;
end
$$;
