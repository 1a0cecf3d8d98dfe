"""Fast bulk inserts with history, for imports of tens of thousands of rows.

On PostgreSQL the rows go in with ``COPY`` (ids taken from the table's sequence in one query,
then one COPY for the table and one for its django-simple-history table): Django's
``bulk_create`` spends most of its time compiling per-value SQL parameters, which made a
100,000-member roster slower than openpyxl merely reading it. Elsewhere (SQLite for
``make run``) it falls back to simple-history's ``bulk_create_with_history``.

Rows are dicts keyed by field ``attname`` (``village_id``, not ``village``).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Sequence

from django.db import connection
from simple_history.utils import bulk_create_with_history


_NULL = NULL = r"\N"


_PLAIN = (str, int, bool)


def _copy(table: str, columns: Sequence[str], rows, *, text_ready: bool = False) -> None:
    # CSV through the C csv writer is several times faster than escaping values in Python.
    # NULL is spelled \N so that an empty string stays an empty string. Other values (dates,
    # timestamps, decimals) repeat a lot and str() of a date is slow: each is converted once.
    seen = {}

    def text(value):
        if value is None:
            return _NULL
        out = seen.get(value)
        if out is None:
            out = seen[value] = str(value)
        return out

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if text_ready:
        writer.writerows(rows)
    else:
        writer.writerows([value if value.__class__ in _PLAIN else text(value) for value in row] for row in rows)
    buffer.seek(0)
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        cursor.copy_expert(
            f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)


def allocate_ids(model, count: int) -> list[int]:
    """``count`` new ids from ``model``'s sequence (PostgreSQL), e.g. to link rows before
    they are written."""
    with connection.cursor() as cursor:
        # The sequence is looked up once: as an argument of nextval() it was resolved per row.
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [model._meta.db_table, model._meta.pk.column])
        (sequence,) = cursor.fetchone()
        cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, count])
        return [row[0] for row in cursor.fetchall()]


def create_with_history(model, rows: list[dict], *, user, reason: str, when: datetime) -> list[int]:
    """Insert ``rows`` into ``model``'s table and one '+' history record each; returns the
    new ids in the order of ``rows``. Must run inside the caller's transaction."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        objs = [model(**row) for row in rows]
        bulk_create_with_history(objs, model, batch_size=1000, default_user=user,
                                 default_change_reason=reason, default_date=when)
        return [obj.pk for obj in objs]

    ids = allocate_ids(model, len(rows))
    fields = [f for f in model._meta.concrete_fields if not f.generated]
    columns = [f.column for f in fields]
    attnames = [f.attname for f in fields]
    # What Model() would fill in: declared defaults, "" for text, None for nullable fields.
    defaults = {f.attname: f.get_default() for f in fields if not f.primary_key}
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            defaults[f.attname] = when
    full_rows = []
    for pk, row in zip(ids, rows):
        values = {**defaults, **row, "id": pk}
        full_rows.append([values.get(name) for name in attnames])
    _copy(model._meta.db_table, columns, full_rows)

    history = model.history.model
    tracked = [f for f in history._meta.concrete_fields
               if not f.generated and f.attname not in ("history_id", "history_date", "history_change_reason",
                                                        "history_type", "history_user_id")]
    position = {name: i for i, name in enumerate(attnames)}
    history_columns = [f.column for f in tracked] + ["history_date", "history_change_reason", "history_type",
                                                     "history_user_id"]
    user_id = getattr(user, "pk", None)
    tail = [when, reason, "+", user_id]
    history_rows = ([row[position[f.attname]] for f in tracked] + tail for row in full_rows)
    _copy(history._meta.db_table, history_columns, history_rows)
    return ids


def insert(model, fields: Sequence[str], rows: Sequence[Sequence], *, return_ids: bool = True,
           text_ready: bool = False) -> list[int] | None:
    """Insert plain rows (no history: for derived records such as settlements) given as value
    sequences in the order of ``fields`` (attnames; every NOT NULL column must be among them,
    as COPY fills no Django defaults). Returns the new ids in order, or None with
    ``return_ids=False`` (the database numbers the rows itself, which is cheaper). Must run
    inside the caller's transaction.

    ``text_ready=True``: the caller already wrote every value as COPY reads it — str, int or
    bool, NULL spelled ``NULL`` (``\\N``), dates, timestamps and amounts as strings the fields
    also parse (``"12345e-2"`` is 123.45 exactly) — so rows go to COPY untouched, saving a
    conversion per value on batches of 100,000 rows. Elsewhere ``NULL`` becomes None again."""
    if not rows:
        return [] if return_ids else None
    if connection.vendor != "postgresql":
        if text_ready:
            rows = [[None if value == NULL else value for value in row] for row in rows]
        objs = [model(**dict(zip(fields, row))) for row in rows]
        model.objects.bulk_create(objs, batch_size=500)
        return [obj.pk for obj in objs] if return_ids else None
    column_of = {f.attname: f.column for f in model._meta.concrete_fields}
    columns = [column_of[name] for name in fields]
    if not return_ids:
        _copy(model._meta.db_table, columns, rows, text_ready=text_ready)
        return None
    ids = allocate_ids(model, len(rows))
    _copy(model._meta.db_table, [model._meta.pk.column, *columns], ([pk, *row] for pk, row in zip(ids, rows)),
          text_ready=text_ready)
    return ids


def update_column(model, attname: str, values: dict) -> None:
    """Set one column of many rows, each to its own value: ``{pk: value}``. One statement on
    PostgreSQL (``UPDATE … FROM unnest(…)``) instead of Django's ``CASE WHEN`` per row."""
    if not values:
        return
    field = next(f for f in model._meta.concrete_fields if f.attname == attname)
    if connection.vendor != "postgresql":
        objs = [model(pk=pk, **{attname: value}) for pk, value in values.items()]
        model.objects.bulk_update(objs, [field.name], batch_size=500)
        return
    qn = connection.ops.quote_name
    table, pk_column = qn(model._meta.db_table), qn(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {qn(field.column)} = v.value "
            f"FROM unnest(%s::{model._meta.pk.rel_db_type(connection)}[], %s::{field.db_type(connection)}[]) "
            f"AS v(pk, value) WHERE {table}.{pk_column} = v.pk",
            [list(values), list(values.values())])
