-- Migration 0017's definition, frozen: never edit (api/migrations/replaceable.py).
-- json_timestamp(at, zone): a timestamp as the API writes it in JSON, the bytes pydantic writes
-- for the datetime Python would hold: RFC 3339, seconds, the microseconds only when not zero
-- (six digits), 'Z' for UTC, else the offset as +HH:MM; 'null' for null. ``zone`` is the time
-- zone the value is shown in: the session's (what psycopg hands Python for a timestamptz it
-- read) when null.
-- Called by network_authorize_once and network_resolve_once, which build their answers in SQL
-- (a test pins them to api.network.schemas' models byte for byte).
create or replace function json_timestamp(p_at timestamptz, p_zone text default null) returns text
language sql stable as $$
    select case when p_at is null then 'null' else
        '"' || to_char(w.wall, 'YYYY-MM-DD"T"HH24:MI:SS')
        || case when extract(microseconds from w.wall)::bigint % 1000000 = 0 then ''
                else to_char(w.wall, '.US') end
        || case when o.seconds = 0 then 'Z'
                else case when o.seconds < 0 then '-' else '+' end
                     || lpad((abs(o.seconds) / 3600)::text, 2, '0') || ':'
                     || lpad((abs(o.seconds) % 3600 / 60)::text, 2, '0') end
        || '"' end
      from (select p_at at time zone coalesce(p_zone, current_setting('TimeZone')) as wall) w,
           lateral (select extract(epoch from w.wall - (p_at at time zone 'UTC'))::integer as seconds) o
$$;
