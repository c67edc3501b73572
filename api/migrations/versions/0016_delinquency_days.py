"""billing: the daily job's delinquency recorded day by day (issue 23, item 2)

Revision ID: 0016
Revises: 0015

``account_billing`` keeps only each account's current delinquency; the warehouse derived the
history again from statements and payments (dbt's ``int_account_delinquency_daily``), a second
copy of ``api.billing.service.delinquency_on``. Now the daily job records what it computed:
``delinquency_days``, one row per delinquent account and day (an account without a row on a
recorded day was current), written in the transaction that updates ``account_billing``, and
extracted into ``raw.delinquency_days``.

``billing_runs.delinquency_recorded`` says which days the record covers: every run from now on
(the column's default), none of the runs before this revision, except the last finished one,
whose day is filled in here from ``account_billing``: every account delinquent at the last run
was looked at that day (``as_of`` is that day), so its rows there are that day's whole record.
The accounts' earlier days cannot be recovered from ``account_billing``; the warehouse reports
delinquency from the first recorded day on (pipelines/README.md, "Delinquency").
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delinquency_days",
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("days_past_due", sa.BigInteger(), nullable=False),
        sa.Column("past_due_amount", sa.BigInteger(), nullable=False),
        sa.Column("bucket", sa.String(8), nullable=False),
        sa.CheckConstraint("days_past_due > 0", name=op.f("ck_delinquency_days_delinquent_only")),
        sa.CheckConstraint(
            "bucket in ('1-29', '30-59', '60-89', '90+')", name=op.f("ck_delinquency_days_bucket_known")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_delinquency_days_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "day", name=op.f("pk_delinquency_days")),
    )
    op.create_index(op.f("ix_delinquency_days_day"), "delinquency_days", ["day"])
    # The runs before this revision recorded nothing; from here on each run does (the default).
    op.add_column(
        "billing_runs",
        sa.Column("delinquency_recorded", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    )
    op.alter_column("billing_runs", "delinquency_recorded", server_default=sa.text("true"))
    # The last finished run's day, from each delinquent account's current state (charged-off
    # accounts' rows fall on their charge-off days, which that run did not look at: kept, as the
    # job computed them, outside the recorded days).
    op.execute(
        """
        insert into delinquency_days (account_id, day, days_past_due, past_due_amount, bucket)
        select account_id, as_of, days_past_due, past_due_amount, delinquency_bucket
        from account_billing
        where days_past_due > 0
        """
    )
    op.execute(
        """
        update billing_runs set delinquency_recorded = true
        where day = (select max(day) from billing_runs where finished_at is not null)
        """
    )


def downgrade() -> None:
    op.drop_column("billing_runs", "delinquency_recorded")
    op.drop_index(op.f("ix_delinquency_days_day"), table_name="delinquency_days")
    op.drop_table("delinquency_days")
