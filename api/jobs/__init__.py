"""Jobs that span domains: the daily job (``api.jobs.daily``)."""
