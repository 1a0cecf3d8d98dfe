"""``field__any_of=[ids]``: ``field = ANY(%s)`` with the whole list as one array parameter.

Django's ``__in`` with a list sends one parameter per id (thousands, for a batch's chunk), and
``__in=RawSQL("SELECT unnest(%s)")`` is a sub-select the planner may turn into a nested loop
re-scanning the ids per row when a table's statistics are stale. ``= ANY(array)`` is one
parameter and one hashed filter (PostgreSQL 14+). Imported (so registered on every field)
by ``core.apps``. SQLite (``make run``): ``IN (SELECT value FROM json_each(%s))``.

A plain list is walked by the ORM item by item before the lookup sees it (any item could be an
expression; ~1 µs an id, 25 ms for a simulation's 25,000 patients): ``Ids(ids)`` hands the list
over as it is (``field__any_of=Ids(ids)``)."""

import json

from django.db.models import Field, ForeignObject, Lookup


class Ids:
    """Ids for ``any_of`` that the ORM passes on unexamined (see the module's docstring)."""

    __slots__ = ("ids",)

    def __init__(self, ids):
        self.ids = ids if isinstance(ids, list) else list(ids)


@ForeignObject.register_lookup  # foreign keys keep lookups of their own
@Field.register_lookup
class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = self.rhs.ids if isinstance(self.rhs, Ids) else list(self.rhs)
        if connection.vendor == "postgresql":
            # Cast to the column's own type: ``bigint = ANY(integer[])`` is not hashed.
            return f"{lhs} = ANY(%s::{self.lhs.output_field.db_type(connection)}[])", [*lhs_params, values]
        if connection.vendor == "sqlite":
            # One parameter too (SQLite caps a statement's parameters at 32,766).
            return f"{lhs} IN (SELECT value FROM json_each(%s))", [*lhs_params, json.dumps(values)]
        if not values:
            return "1 = 0", list(lhs_params)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]
