"""The booking engine shared by the maker-space and crowd-support services.

- `rules`: the pure rules (notice, duration, slot grid, past, subscription and credits, daily quota, trainings,
  approval, check-in and no-show, recurring series across DST); no I/O, `now` always passed in.
- `models` / `schema`: the engine's tables and the migration operations that create them.
- `store`: takes slots atomically inside the caller's unit of work (row locks on PostgreSQL, the serialised
  writer on SQLite); the calling service publishes its own events.
"""
