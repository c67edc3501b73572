"""The gateway: everything every request passes through before and after its domain.

- ``middleware.GatewayMiddleware``: request id, security headers, body size
  limit, per-IP rate limit, the access log, and problem+json for crashes.
- ``ratelimit.RateLimiter``: per-IP, per-user and per-IP credential limits, shared by every
  process (PostgreSQL by default, Redis, or one process's memory); a request's counters are
  one round trip (the gateway verifies its bearer token to know its user).
- ``idempotency``: the ``Idempotency-Key`` mechanism every creating or
  money-moving POST uses; its lock and look-up are one database function,
  ``sql/idempotency_begin.sql``.
- ``access_log.AccessLogWriter``: the JSON-lines request log.
"""
