"""network function: a batch of authorizations, each cleared or reversed, in one round trip

Revision ID: 0009
Revises: 0008

``network_batch(...)`` runs ``network_authorize`` for each message in array
order and, when one is approved and the message says so, ``network_resolve``
(clear for an amount, or reverse) right after it, as the network's own
messages would have done one by one: each authorization sees every earlier
one's hold and clear. It is ``api.network.service.authorize_batch``, which
the simulator's ``--bulk`` mode uses to make large worlds through the
service layer at the database's pace rather than a round trip's.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NETWORK_BATCH = """
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
$$
"""


def upgrade() -> None:
    # Sent to the driver as written, without parameters (see 0007).
    cursor = op.get_bind().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(NETWORK_BATCH)


def downgrade() -> None:
    op.execute(
        "drop function if exists network_batch(text[], text[], text[], bigint[], text[], text[], text[], "
        "text[], text[], timestamptz, text[], bigint[], text[], text[], bigint, text[], integer)"
    )
