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
import gc
import io
import re
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from itertools import islice

from django.db import connection
from simple_history.utils import bulk_create_with_history

_NULL = NULL = r"\N"


_PLAIN = (str, int, bool)


def text_safe(value: str) -> str:
    """``value`` as a string of a ``text_ready`` row (see ``insert``): escaped for COPY's text
    format (backslash, tab, newline, carriage return), so that no string can read as ``NULL``
    (``\\N``): a string ``\\N`` is sent as ``\\\\N``. The same encoding on every database
    (the non-PostgreSQL path decodes it as COPY does). Call it once per distinct string (tier
    names, task ids), not per row."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


_UNESCAPE = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def _text_value(value):
    """A value of a ``text_ready`` row as COPY's text format reads it: ``NULL`` is None, a
    string escaped by ``text_safe`` is the original string; other values unchanged."""
    if value.__class__ is not str:
        return value
    if value == NULL:
        return None
    if "\\" not in value:
        return value
    return _ESCAPED.sub(lambda m: _UNESCAPE.get(m.group(1), m.group(1)), value)


class _CopyStream:
    """The file ``COPY … FROM STDIN`` reads, made only as COPY asks for it: PostgreSQL inserts
    the rows already sent (on its own core) while the next ones are made here — ``rows`` may
    be a generator that computes them. ``write(batch)`` writes a list of rows as text into
    ``buffer``."""

    def __init__(self, rows, write, buffer: io.StringIO):
        self._rows = iter(rows)
        self._write = write
        self.buffer = buffer

    def read(self, size=-1):
        buffer, rows, write = self.buffer, self._rows, self._write
        while self._rows is not None and (size < 0 or buffer.tell() < size):
            batch = list(islice(rows, 500))
            if not batch:
                self._rows = None
                break
            write(batch)
        data = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return data

    readline = read


def _copy(table: str, columns: Sequence[str], rows, *, template: str | None = None) -> None:
    """COPY ``rows`` into ``table``. ``template``: rows are ``text_ready`` tuples, each written
    as ``template % row`` in COPY's text format (one formatting operation per row); otherwise
    any values, written as CSV."""
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    buffer = io.StringIO()
    if template is not None:
        stream = _CopyStream(rows, lambda batch: buffer.write("".join(map(template.__mod__, batch))), buffer)
        options = ""
    else:
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

        writer = csv.writer(buffer, lineterminator="\n")
        stream = _CopyStream(
            rows,
            lambda batch: writer.writerows(
                [value if value.__class__ in _PLAIN else text(value) for value in row] for row in batch
            ),
            buffer,
        )
        options = " WITH (FORMAT csv, NULL '\\N')"
    # copy_expert is psycopg2's own method, which Django's cursor wrapper does not wrap: without
    # wrap_database_errors a lost connection would surface as psycopg2's error, not Django's
    # OperationalError that tasks retry on and that marks the connection unusable.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.copy_expert(
            f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN{options}", stream, size=1 << 16
        )


# (database name, table, column) -> the sequence's name: it never changes while the process
# lives (a migration that replaced it would restart the processes), so it is looked up once.
_sequences: dict[tuple[str, str, str], str] = {}


def allocate_ids(model, count: int) -> list[int]:
    """``count`` new ids from ``model``'s sequence (PostgreSQL), e.g. to link rows before
    they are written."""
    key = (connection.settings_dict["NAME"], model._meta.db_table, model._meta.pk.column)
    with connection.cursor() as cursor:
        # The sequence is looked up once: as an argument of nextval() it was resolved per row.
        sequence = _sequences.get(key)
        if sequence is None:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", list(key[1:]))
            (sequence,) = cursor.fetchone()
            _sequences[key] = sequence
        cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, count])
        return [row[0] for row in cursor.fetchall()]


def create_with_history(model, rows: list[dict], *, user, reason: str, when: datetime) -> list[int]:
    """Insert ``rows`` into ``model``'s table and one '+' history record each; returns the
    new ids in the order of ``rows``. Must run inside the caller's transaction."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        objs = [model(**row) for row in rows]
        bulk_create_with_history(
            objs, model, batch_size=1000, default_user=user, default_change_reason=reason, default_date=when
        )
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
    tracked = [
        f
        for f in history._meta.concrete_fields
        if not f.generated
        and f.attname
        not in ("history_id", "history_date", "history_change_reason", "history_type", "history_user_id")
    ]
    position = {name: i for i, name in enumerate(attnames)}
    history_columns = [f.column for f in tracked] + [
        "history_date",
        "history_change_reason",
        "history_type",
        "history_user_id",
    ]
    user_id = getattr(user, "pk", None)
    tail = [when, reason, "+", user_id]
    history_rows = ([row[position[f.attname]] for f in tracked] + tail for row in full_rows)
    _copy(history._meta.db_table, history_columns, history_rows)
    return ids


def insert(
    model,
    fields: Sequence[str],
    rows: Iterable[Sequence],
    *,
    return_ids: bool = True,
    text_ready: bool = False,
    count: int | None = None,
    cents: Sequence[str] = (),
) -> list[int] | None:
    """Insert plain rows (no history: for derived records such as settlements) given as value
    sequences in the order of ``fields`` (attnames; every NOT NULL column must be among them,
    as COPY fills no Django defaults). Returns the new ids in order, or None with
    ``return_ids=False`` (the database numbers the rows itself, which is cheaper). Must run
    inside the caller's transaction.

    ``rows`` may be a generator: on PostgreSQL it is consumed while COPY runs, so the database
    inserts early rows while later ones are computed. With ``return_ids`` a generator needs
    ``count`` (how many rows it yields: the ids are taken before).

    ``text_ready=True``: rows are tuples of values COPY reads as they are — int, bool, str
    made safe with ``text_safe`` (once per distinct string), NULL spelled ``NULL``, dates and
    timestamps as ISO strings — and the fields named in ``cents`` (two-decimal amounts) are
    int cents. Each row is then written with one ``%`` formatting (amounts as ``12345e-2``,
    which NUMERIC reads exactly as 123.45), the cheapest way to send 100,000 rows. Elsewhere
    each value is read back as COPY reads it (``NULL`` is None, ``text_safe``'s escapes are
    undone: a string ``\\N`` stays a string) and cents become those strings."""
    if count is None and (return_ids or isinstance(rows, (list, tuple))):
        rows = rows if isinstance(rows, (list, tuple)) else list(rows)
        count = len(rows)
    if connection.vendor != "postgresql":
        rows = list(rows)
        if not rows:
            return [] if return_ids else None
        if text_ready:
            money = {fields.index(name) for name in cents}
            rows = [
                [f"{value}e-2" if i in money else _text_value(value) for i, value in enumerate(row)]
                for row in rows
            ]
        objs = [model(**dict(zip(fields, row))) for row in rows]
        model.objects.bulk_create(objs, batch_size=500)
        return [obj.pk for obj in objs] if return_ids else None
    if count == 0:
        return [] if return_ids else None
    column_of = {f.attname: f.column for f in model._meta.concrete_fields}
    columns = [column_of[name] for name in fields]
    template = None
    if text_ready:
        template = "\t".join("%de-2" if name in cents else "%s" for name in fields) + "\n"
    if not return_ids:
        _copy(model._meta.db_table, columns, rows, template=template)
        return None
    ids = allocate_ids(model, count)
    if template is not None:
        template = "%d\t" + template
    _copy(
        model._meta.db_table,
        [model._meta.pk.column, *columns],
        ((pk, *row) for pk, row in zip(ids, rows)),
        template=template,
    )
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
            [list(values), list(values.values())],
        )


def fetch_rows(queryset) -> list[tuple]:
    """The rows of a ``values_list`` queryset. On PostgreSQL in one fetch from the cursor:
    psycopg2 already gives the final Python values of the columns these reads select (ints —
    cents included —, strings, booleans, dates, decimals), and skipping Django's row iterator
    and its per-value converters saves a third of the load. Elsewhere through the ORM (SQLite
    needs its converters for dates and decimals)."""
    if connection.vendor != "postgresql":
        return list(queryset)
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# key -> (sql, parameter slots) or None (not cacheable: built every time); see fetch_rows_of.
_prepared: dict[str, tuple | None] = {}
_ARGUMENT = object()  # a slot holding an argument: (_ARGUMENT, name); else (None, constant)


def fetch_rows_of(key: str, build, **arguments) -> list[tuple]:
    """``fetch_rows(build(**arguments))``, with the query built and compiled once per process
    (``key`` names it) instead of on every call: for the hot path that runs one complex query
    per request with other values (the window settles one member-year per request), Django's
    building and compiling of it costs several times the database's work.

    The first call on PostgreSQL compiles ``build`` with the arguments given and with two sets
    of stand-in values (ints, dates and lists of ints, each argument its own, in the ranges of
    small integer columns), and keeps the SQL only if it is the same all three times and every
    parameter is either one argument as given or the same constant each time — checked against
    the real arguments' own parameters. A parameter derived from an argument (``ids[0]``: pass
    it as an argument of its own), an argument of another type or SQL that depends on the
    values makes the query built every time, as it is elsewhere than PostgreSQL."""
    if connection.vendor != "postgresql":
        return list(build(**arguments))
    prepared = _prepared.get(key, _ARGUMENT)
    if prepared is _ARGUMENT:
        prepared = _prepared[key] = _prepare(build, arguments)
    if prepared is None:
        return fetch_rows(build(**arguments))
    sql, slots = prepared
    params = [arguments[value] if kind is _ARGUMENT else value for kind, value in slots]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def fetch_rows_in(key: str, build, ids: list[int], **arguments) -> list[tuple]:
    """``fetch_rows_of`` for a query over sorted ``ids`` with their bounds: ``build`` takes
    ``ids``, ``low`` (the first) and ``high`` (the last) besides ``arguments`` — the filter the
    planner can estimate (``settlement.batch.members_in``). No ids: no rows."""
    if not ids:
        return []
    return fetch_rows_of(key, build, ids=ids, low=ids[0], high=ids[-1], **arguments)


def _stand_in(value, index: int, variant: int):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return 20_001 + 100 * index + 10 * variant
    if isinstance(value, date) and not isinstance(value, datetime):
        return date(1201 + 10 * index + variant, 2, 3)
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        # Lengths differ too: a parameter or SQL that depends on the length is found out.
        return [25_001 + 100 * index + 10 * variant + k for k in range(2 + variant)]
    return None


def _prepare(build, arguments: dict) -> tuple | None:
    names = sorted(arguments)
    stand_ins = []
    for variant in (0, 1):
        values = {name: _stand_in(arguments[name], i, variant) for i, name in enumerate(names)}
        if any(v is None for v in values.values()):
            return None
        stand_ins.append(values)
    compiled = [build(**values).query.sql_with_params() for values in (arguments, *stand_ins)]
    sql = compiled[0][0]
    if any(other != sql for other, _ in compiled) or len({len(params) for _, params in compiled}) != 1:
        return None
    slots = []
    for given, *seen in zip(*(params for _, params in compiled)):
        name = next((n for n in names if all(v == s[n] for v, s in zip(seen, stand_ins))), None)
        if name is not None:
            slots.append((_ARGUMENT, name))
        elif all(v == given for v in seen) and not isinstance(given, list):
            slots.append((None, given))
        else:
            return None
    if [arguments[value] if kind is _ARGUMENT else value for kind, value in slots] != list(compiled[0][1]):
        return None
    return sql, slots


@contextmanager
def gc_paused():
    """No cyclic garbage collection inside the block (a context manager and a decorator). A
    chunk of a batch makes ~100,000 tuples and objects that live until it ends: while they
    pile up, CPython runs full collections, each walking every object of the process (the
    worker's Django included) — 20 % of a simulation's Python time. The chunk's objects hold
    no cycles (rows, engine results): they are freed by reference counting when it ends, and
    the collector resumes then. Nested blocks and threads leave it as the outermost found it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
