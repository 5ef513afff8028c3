"""Indexes that make the hot path's plans obvious without statistics.

The machine's PostgreSQL may run with autovacuum off, so tables may never be analyzed. Without
statistics, `tenant = %s AND owner = %s` is estimated at max(1, N / 40,000) rows: a lookup of one
thread by id for its owner then ties between the primary key and the (tenant, owner, updated_at)
list index, and the list index, which also gives the model's default order, could win and read
every thread of the owner. A hash index on id has no tree descent to pay in the planner's costs,
so `id = %s` through it costs less than any B-tree path with the same single-row estimate: the
lookup reads one row on a table never analyzed. PostgreSQL only (SQLite has no hash indexes),
so it is not in the model's Meta.

The busy check read a thread's runs through BitmapAnd of the thread index and the status index,
i.e. every run in progress on the install: a partial index of runs in progress by thread reads
only the thread's.
"""

from django.db import migrations, models

HASH_INDEXES = (("thread_id_hash", "threads_thread"),)


def create_hash_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, table in HASH_INDEXES:
            schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING hash ("id")')


def drop_hash_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, _ in HASH_INDEXES:
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):

    dependencies = [
        ('threads', '0002_run_started_by'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='run',
            index=models.Index(condition=models.Q(('status__in', ('queued', 'running', 'requires_action'))), fields=['thread'], name='run_in_progress_by_thread'),
        ),
        migrations.RunPython(create_hash_indexes, drop_hash_indexes, elidable=False),
    ]
