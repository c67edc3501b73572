-- Delinquency per business day: accounts and balances in the 30-day buckets, charge-offs, and on
-- each month's last day the month-over-month roll rates (the share of the accounts in a bucket at
-- the previous month's end that are one bucket worse at this month's end; 90+ rolls to charge-off).
with

delinquency as (
    select delinquency.*
    from {{ ref('int_account_delinquency_daily') }} as delinquency
    join {{ ref('dim_accounts') }} as accounts using (account_id)
    -- A written-off account leaves the portfolio after its charge-off day.
    where accounts.charged_off_date is null or delinquency.date_day <= accounts.charged_off_date
),

charge_offs as (
    select charged_off_date as date_day, count(*)::bigint as charge_offs_count,
        sum(charged_off_cents)::bigint as charged_off_cents
    from {{ ref('dim_accounts') }}
    where charged_off_date is not null
    group by charged_off_date
),

-- Recoveries on accounts charged off before, and so net charge-offs (FFIEC Call Report, Schedule
-- RI-B Part I: charge-offs in column A, recoveries in column B).
recoveries as (
    select recovery_date as date_day, sum(recoveries_cents)::bigint as recoveries_cents
    from {{ ref('int_charge_off_recoveries_daily') }}
    group by recovery_date
),

buckets as (
    select
        date_day,
        count(*)::bigint as accounts_count,
        count(*) filter (where delinquency_bucket = 'current')::bigint as current_count,
        count(*) filter (where delinquency_bucket = '1-29')::bigint as dpd_1_29_count,
        count(*) filter (where delinquency_bucket = '30-59')::bigint as dpd_30_59_count,
        count(*) filter (where delinquency_bucket = '60-89')::bigint as dpd_60_89_count,
        count(*) filter (where delinquency_bucket = '90+')::bigint as dpd_90_plus_count,
        coalesce(sum(posted_balance_cents) filter (where posted_balance_cents > 0), 0)::bigint
            as balance_cents,
        coalesce(sum(posted_balance_cents) filter (where delinquency_bucket = '1-29'), 0)::bigint
            as dpd_1_29_balance_cents,
        coalesce(sum(posted_balance_cents) filter (where delinquency_bucket = '30-59'), 0)::bigint
            as dpd_30_59_balance_cents,
        coalesce(sum(posted_balance_cents) filter (where delinquency_bucket = '60-89'), 0)::bigint
            as dpd_60_89_balance_cents,
        coalesce(sum(posted_balance_cents) filter (where delinquency_bucket = '90+'), 0)::bigint
            as dpd_90_plus_balance_cents,
        coalesce(sum(past_due_cents), 0)::bigint as past_due_cents
    from delinquency
    group by date_day
),

month_ends as (
    select
        delinquency.account_id,
        delinquency.date_day,
        delinquency.delinquency_bucket,
        lag(delinquency.delinquency_bucket) over (
            partition by delinquency.account_id order by delinquency.date_day
        ) as previous_bucket,
        lag(delinquency.date_day) over (
            partition by delinquency.account_id order by delinquency.date_day
        ) as previous_month_end
    from {{ ref('int_account_delinquency_daily') }} as delinquency
    where delinquency.date_day = (date_trunc('month', delinquency.date_day) + interval '1 month - 1 day')::date
),

rolls as (
    select
        month_ends.date_day,
        month_ends.previous_bucket,
        count(*) as from_count,
        count(*) filter (where
            (month_ends.previous_bucket = '90+' and accounts.charged_off_date > month_ends.previous_month_end
                and accounts.charged_off_date <= month_ends.date_day)
            or (month_ends.previous_bucket <> '90+' and month_ends.delinquency_bucket = case month_ends.previous_bucket
                when 'current' then '1-29' when '1-29' then '30-59' when '30-59' then '60-89' else '90+' end)
        ) as rolled_count
    from month_ends
    join {{ ref('dim_accounts') }} as accounts using (account_id)
    where month_ends.previous_month_end = (date_trunc('month', month_ends.date_day) - interval '1 day')::date
        and (accounts.charged_off_date is null or accounts.charged_off_date > month_ends.previous_month_end)
    group by month_ends.date_day, month_ends.previous_bucket
),

roll_rates as (
    select
        date_day,
        max(round(rolled_count::numeric / from_count, 4)) filter (where previous_bucket = 'current')
            as roll_rate_current_to_1_29,
        max(round(rolled_count::numeric / from_count, 4)) filter (where previous_bucket = '1-29')
            as roll_rate_1_29_to_30_59,
        max(round(rolled_count::numeric / from_count, 4)) filter (where previous_bucket = '30-59')
            as roll_rate_30_59_to_60_89,
        max(round(rolled_count::numeric / from_count, 4)) filter (where previous_bucket = '60-89')
            as roll_rate_60_89_to_90_plus,
        max(round(rolled_count::numeric / from_count, 4)) filter (where previous_bucket = '90+')
            as roll_rate_90_plus_to_charge_off
    from rolls
    group by date_day
)

select
    buckets.date_day,
    buckets.accounts_count,
    buckets.current_count,
    buckets.dpd_1_29_count,
    buckets.dpd_30_59_count,
    buckets.dpd_60_89_count,
    buckets.dpd_90_plus_count,
    (buckets.dpd_30_59_count + buckets.dpd_60_89_count + buckets.dpd_90_plus_count)::bigint
        as dpd_30_plus_count,
    buckets.balance_cents,
    buckets.dpd_1_29_balance_cents,
    buckets.dpd_30_59_balance_cents,
    buckets.dpd_60_89_balance_cents,
    buckets.dpd_90_plus_balance_cents,
    round(
        (buckets.dpd_30_59_balance_cents + buckets.dpd_60_89_balance_cents + buckets.dpd_90_plus_balance_cents)::numeric
        / nullif(buckets.balance_cents, 0), 4
    ) as dpd_30_plus_balance_rate,
    buckets.past_due_cents,
    coalesce(charge_offs.charge_offs_count, 0)::bigint as charge_offs_count,
    coalesce(charge_offs.charged_off_cents, 0)::bigint as charged_off_cents,
    coalesce(recoveries.recoveries_cents, 0)::bigint as recoveries_cents,
    (coalesce(charge_offs.charged_off_cents, 0) - coalesce(recoveries.recoveries_cents, 0))::bigint
        as net_charge_offs_cents,
    buckets.date_day = (date_trunc('month', buckets.date_day) + interval '1 month - 1 day')::date
        as is_month_end,
    roll_rates.roll_rate_current_to_1_29,
    roll_rates.roll_rate_1_29_to_30_59,
    roll_rates.roll_rate_30_59_to_60_89,
    roll_rates.roll_rate_60_89_to_90_plus,
    roll_rates.roll_rate_90_plus_to_charge_off
from buckets
left join charge_offs using (date_day)
left join recoveries using (date_day)
left join roll_rates using (date_day)
