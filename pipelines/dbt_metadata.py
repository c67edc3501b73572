"""Row counts and column schemas on the dbt assets' materializations, read from the warehouse.

dagster-dbt's ``fetch_row_counts()`` and ``fetch_column_metadata()`` build each relation's name
from the manifest the code location was loaded with, which was parsed with the profile's
default database name (``warehouse``): on a warehouse named otherwise they fail with
"cross-database references are not implemented". Here the relation is the node's schema and
alias, looked up on the connection the build used, so the name of the database never matters.

Each model, seed and snapshot the build materialized gets the standard table metadata
(:class:`dagster.TableMetadataSet`, shown by the UI's asset page and its column lineage):

- ``dagster/column_schema``: the relation's columns in order, their database types, and the
  description the model's YAML gives each (the manifest's);
- ``dagster/row_count``: ``count(*)`` of tables and incremental models; views are not counted
  (a count would run the view's whole query again, on every run, for a figure the table it
  reads already shows);
- ``dagster/table_name``: ``<database>.<schema>.<alias>`` as built (marts are built into
  ``marts_staging`` and published into ``marts`` by ``published_marts``).

Metadata never fails a build: a relation that cannot be read is logged and its event passes on
unchanged.
"""

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import psycopg
from dagster import AssetMaterialization, Output, TableColumn, TableSchema
from dagster._core.definitions.metadata import TableMetadataSet, TextMetadataValue

COLUMNS = (
    "select column_name, data_type from information_schema.columns "
    "where table_schema = %s and table_name = %s order by ordinal_position"
)
RELATION_KIND = (
    "select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
    "where n.nspname = %s and c.relname = %s"
)
MATERIALIZED = ("model", "seed", "snapshot")


def table_metadata(conn: psycopg.Connection[Any], node: Mapping[str, Any]) -> dict[str, Any] | None:
    """The table metadata of the relation ``node`` (a manifest node) built, or None if absent."""
    schema, alias = node["schema"], node.get("alias") or node["name"]
    kind = conn.execute(RELATION_KIND, (schema, alias)).fetchone()
    if kind is None:
        return None
    described = node.get("columns") or {}
    columns = [
        TableColumn(
            name=name,
            type=data_type,
            description=(described.get(name) or {}).get("description") or None,
        )
        for name, data_type in conn.execute(COLUMNS, (schema, alias))
    ]
    database = conn.info.dbname
    row_count = None
    if kind[0] in ("r", "p", "m"):  # a table, a partitioned table, a materialized view
        counted = conn.execute(
            psycopg.sql.SQL("select count(*) from {}.{}").format(
                psycopg.sql.Identifier(schema), psycopg.sql.Identifier(alias)
            )
        ).fetchone()
        row_count = int(counted[0]) if counted else None
    return dict(
        TableMetadataSet(
            column_schema=TableSchema(columns=columns),
            row_count=row_count,
            table_name=f"{database}.{schema}.{alias}",
        )
    )


def with_table_metadata(
    events: Iterable[Any],
    manifest: Mapping[str, Any],
    conninfo: str,
    log: Any,
) -> Iterator[Any]:
    """``events`` (a dbt invocation's stream), each materialization of a model, seed or snapshot
    with its table metadata added; one warehouse connection for the whole stream."""
    conn: psycopg.Connection[Any] | None = None
    try:
        for event in events:
            node = _built_node(event, manifest)
            if node is not None:
                try:
                    if conn is None:
                        conn = psycopg.connect(conninfo, autocommit=True)
                    metadata = table_metadata(conn, node)
                except psycopg.Error as exc:
                    log.warning(f"table metadata of {node['unique_id']} not recorded: {exc}")
                    metadata = None
                if metadata:
                    event = event.with_metadata({**event.metadata, **metadata})
            yield event
    finally:
        if conn is not None:
            conn.close()


def _built_node(event: Any, manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if not isinstance(event, Output | AssetMaterialization):
        return None
    unique_id = event.metadata.get("unique_id")
    if not isinstance(unique_id, TextMetadataValue):
        return None
    node: Mapping[str, Any] | None = manifest.get("nodes", {}).get(unique_id.text)
    if node is None or node.get("resource_type") not in MATERIALIZED:
        return None
    return node
