"""A GIN index for full-text search on PostgreSQL (SQLite searches with LIKE and needs none).

The indexed expression is exactly the one SearchVector("search_text", config="simple") compiles
to, so the planner can use it for `repo_search`; change both together.
"""

from __future__ import annotations

from django.db import migrations

INDEX = "models_hub_repository_search_gin"
CREATE = (
    f"CREATE INDEX IF NOT EXISTS {INDEX} ON models_hub_repository "
    "USING gin (to_tsvector('simple'::regconfig, COALESCE(search_text, '')))"
)
DROP = f"DROP INDEX IF EXISTS {INDEX}"


def create_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("models_hub", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
