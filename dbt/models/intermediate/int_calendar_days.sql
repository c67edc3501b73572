-- Every business day from the platform's start (or its first activity) to its latest activity or run.
with

activity as (
    select {{ utc_date('created_at') }} as activity_date from {{ ref('stg_cardportal__ledger_entries') }}
    union all
    select {{ utc_date('created_at') }} from {{ ref('stg_cardportal__transactions') }}
    union all
    select {{ utc_date('created_at') }} from {{ ref('stg_cardportal__applications') }}
    union all
    select {{ utc_date('opened_at') }} from {{ ref('stg_cardportal__accounts') }}
    union all
    -- A day the daily job closed is a business day, with or without money moving on it.
    select run_date from {{ ref('stg_cardportal__billing_runs') }} where finished_at is not null
),

bounds as (
    select
        least(cast('{{ var("start_date") }}' as date), min(activity_date)) as first_day,
        greatest(cast('{{ var("start_date") }}' as date), max(activity_date)) as last_day
    from activity
)

select day::date as date_day
from bounds, generate_series(bounds.first_day, bounds.last_day, interval '1 day') as day
