"""The Dagster code location: extract, dbt, checks, publish, report files, schedules."""
