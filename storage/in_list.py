"""`column IN` a list bound when the statement runs, as one parameter on PostgreSQL.

SQLAlchemy's expanding parameter (`column.in_(bindparam(name, expanding=True))`) renders
one placeholder per value each time the statement runs. A storm's echo claims, reads and
settles a few hundred rows at once: on PostgreSQL every such statement was rendered
again, value by value (over a millisecond of the event loop each under a profiler), and,
its text new for each length of list, prepared again by asyncpg and planned again by the
server, a round trip more (docs/performance.md, seventeenth session). `in_list` renders
`column = ANY($1::type[])` there, one text whatever the length; SQLite keeps the
expanding form, which it runs well.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class InList(ColumnElement[bool]):
    """`column IN :name`, `name` bound to a sequence of values (possibly empty)."""

    __visit_name__ = "firewatch_in_list"
    # The cache key: the column and the parameter's name are all the state there is.
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
    ]
    type = Boolean()
    _is_implicitly_boolean = True  # a predicate: SQLite is not to compare it with 1

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.name = name


def in_list(column: ColumnElement[Any], name: str) -> InList:
    """`column` is one of the values bound to `name` when the statement runs."""
    return InList(column, name)


@compiles(InList)
def _expanding(element: InList, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)


@compiles(InList, "postgresql")
def _any_of_array(element: InList, compiler: SQLCompiler, **kw: Any) -> str:
    values = bindparam(element.name, type_=ARRAY(element.column.type))
    return compiler.process(element.column == any_(values), **kw)
