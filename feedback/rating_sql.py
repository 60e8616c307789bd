"""PostgreSQL: a rating written in one statement, INSERT ... SELECT ... ON CONFLICT DO UPDATE.

The SELECT reads the output with its repository, so the statement also works out whether the rater maintains the
model (owner, superuser, or a member of the owning organisation: `RepoAccess.member`) and, when asked, whether the
rater may rate the output at all: finished, and theirs, or staff's, or made for the rating queue of a public
model. It writes nothing and returns None otherwise, and the caller looks again the slow way to say why (or to
allow what needs more than this, such as a queue output of a private model its organisation may read).

The conflict target is the one-rating-per-person constraint, so any number of copies arriving at once leave one
row; `xmax = 0` holds only for a row this statement inserted.

The statement is prepared once per database session (PREPARE, then EXECUTE): planning this join took the server
longer than running it, at every rating.
"""

from __future__ import annotations

import functools
import weakref
from datetime import datetime
from typing import Any

from django.db import connection

from accounts.models import Membership, User
from feedback.models import Rating
from inference.models import Generation
from models_hub.models import Repository


def _q(model, name: str | None = None) -> str:
    """A quoted table name, or a quoted column name of `model`."""
    return connection.ops.quote_name(model._meta.db_table if name is None else model._meta.get_field(name).column)


WRITTEN = ("thumb", "stars", "tags", "comment", "correction", "updated_at", "created_at")
# The prepared statements of each database connection (a new connection starts with none).
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _types(check_visible: bool) -> list[str]:
    """The parameters' SQL types, in _statement's order."""
    user = User._meta.pk.rel_db_type(connection)
    types = [user, *(Rating._meta.get_field(n).db_type(connection) for n in WRITTEN), "boolean", user, user]
    types.append(Generation._meta.pk.rel_db_type(connection))
    if check_visible:
        types += [Generation._meta.get_field("status").db_type(connection), "boolean", user]
        types.append(Generation._meta.get_field("source").db_type(connection))
    return types


def _execute(cursor, check_visible: bool, params: list[Any]) -> None:
    name = f"flywheel_rating_upsert_{int(check_visible)}"
    done = _prepared.setdefault(connection.connection, set())
    if name not in done:
        sql, number = _statement(check_visible), iter(range(1, 100))
        numbered = sql.replace("%s", "{}").format(*(f"${next(number)}" for _ in range(sql.count("%s"))))
        cursor.execute(f"PREPARE {name} ({', '.join(_types(check_visible))}) AS {numbered}")
        done.add(name)
    cursor.execute(f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params)


@functools.cache
def _statement(check_visible: bool) -> str:
    """The SQL; the parameters, in order: user, the WRITTEN values, superuser, user, user, output id, and with
    `check_visible`: the done status, staff, user, the rating queue's source."""
    g = {n: _q(Generation, n) for n in ("id", "repository", "status", "user", "source")}
    r = {n: _q(Repository, n) for n in ("id", "owner", "organization", "private")}
    m = {n: _q(Membership, n) for n in ("organization", "user")}
    columns = [_q(Rating, n) for n in ("generation", "user", *WRITTEN, "by_maintainer")]
    updated = [_q(Rating, n) for n in (*WRITTEN[:-1], "by_maintainer")]
    visible = (
        f" AND g.{g['status']} = %s AND (%s OR g.{g['user']} = %s OR (g.{g['source']} = %s AND NOT r.{r['private']}))"
        if check_visible
        else ""
    )
    # OFFSET 0 keeps the output's lookup by primary key: flattened, the planner may pick the queue index on status.
    return (
        f"INSERT INTO {_q(Rating)} ({', '.join(columns)}) "  # noqa: S608 - names from the models, values parameters
        f"SELECT g.{g['id']}, {', '.join(['%s'] * (1 + len(WRITTEN)))}, "
        # An organisation's repository has no owner: NULL = %s is NULL, and NULL OR FALSE is NULL, hence COALESCE.
        f"COALESCE(%s OR r.{r['owner']} = %s OR EXISTS (SELECT 1 FROM {_q(Membership)} m "
        f"WHERE m.{m['organization']} = r.{r['organization']} AND m.{m['user']} = %s), FALSE) "
        f"FROM (SELECT {', '.join(g.values())} FROM {_q(Generation)} WHERE {g['id']} = %s OFFSET 0) g "
        f"JOIN {_q(Repository)} r ON r.{r['id']} = g.{g['repository']} WHERE TRUE{visible} "
        f"ON CONFLICT ({columns[0]}, {columns[1]}) DO UPDATE SET "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in updated)
        + f" RETURNING {_q(Rating, 'id')}, {_q(Rating, 'created_at')}, (xmax = 0), {_q(Rating, 'by_maintainer')}, "
        f"{columns[0]}"
    )


def rating_upsert(
    *, generation_id, user: User, fields: dict[str, Any], now: datetime, check_visible: bool
) -> tuple[Rating, bool] | None:
    """Create or change `user`'s rating of the output: (rating, created), or None when the output does not
    exist or, with `check_visible`, may not be rated through this path. `fields`: the WRITTEN ones but created_at."""
    written = {**fields, "created_at": now}
    params: list[Any] = [user.pk]
    params += [Rating._meta.get_field(name).get_db_prep_save(written[name], connection) for name in WRITTEN]
    params += [user.is_superuser, user.pk, user.pk, generation_id]
    if check_visible:
        params += [Generation.Status.DONE, user.is_staff, user.pk, Generation.Source.BATCH]
    with connection.cursor() as cursor:
        _execute(cursor, check_visible, params)
        row = cursor.fetchone()
    if row is None:
        return None
    pk, created_at, created, by_maintainer, generation_pk = row
    rating = Rating(
        pk=pk, generation_id=generation_pk, user=user, created_at=created_at, by_maintainer=by_maintainer, **fields
    )
    rating._state.adding = False
    rating._state.db = connection.alias
    return rating, created
