-- network_batch(...): network_authorize for each message in array order and, when one is
-- approved and its message says so, network_resolve right after it (clear for an amount, or
-- reverse), as the network's messages would one by one. No rule of its own: bulk loads only.
-- Called by simulator.inprocess.authorize_batch (the simulator's --bulk), not by the API.
create or replace function network_batch(
    p_ids text[], p_transfer_ids text[], p_cards text[], p_amounts bigint[], p_currencies text[],
    p_names text[], p_mccs text[], p_groups text[], p_countries text[], p_now timestamptz,
    p_actions text[], p_settle_amounts bigint[], p_settle_transfer_ids text[],
    p_issuing_currencies text[], p_max_amount bigint, p_tipping_mccs text[], p_tip_bps integer
) returns table (account_id text, decline_code text, available_credit bigint, settled text)
language plpgsql volatile as $$
#variable_conflict use_column
declare
    i integer;
    a record;
begin
    for i in 1 .. coalesce(array_length(p_ids, 1), 0) loop
        select * into a from network_authorize(
            p_ids[i], p_transfer_ids[i], p_cards[i], p_amounts[i], p_currencies[i], p_names[i],
            p_mccs[i], p_groups[i], p_countries[i], p_now, p_issuing_currencies, p_max_amount) x;
        settled := null;
        if not found then
            account_id := null;
            decline_code := 'card_not_found';
            available_credit := null;
        else
            account_id := a.account_id;
            decline_code := a.decline_code;
            available_credit := a.available_credit;
            if a.decline_code is null and p_actions[i] is not null then
                select r.outcome into settled from network_resolve(
                    p_ids[i], p_actions[i], p_settle_amounts[i], p_now, p_settle_transfer_ids[i],
                    p_tipping_mccs, p_tip_bps) r;
            end if;
        end if;
        return next;
    end loop;
end
$$;
