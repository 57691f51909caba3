"""Sequence endpoints of the JSON API, mounted at /api/v1/sequences (touchline/api/router.py).

One router; each module adds its endpoints to it. The import order below is the URL order: Django tries the
patterns in turn and `{sequence_id}` would match any one segment, so the fixed paths (`inbound`, `inboxes`,
`templates`, `enrollments`, `tasks`) are registered before `sequences.py` adds `/{sequence_id}`.

- `inbound`: raw inbound mail for mail servers and scripts (docs/inbound.md);
- `library`: inboxes and email templates, read-only: the ids a script needs to enroll;
- `enrollments`: list, read, pause / resume / unenroll one or many;
- `tasks`: the caller's task queue, complete or skip a task;
- `sequences`: sequences and their steps, and enrolling contacts in a sequence.

Writes go through `touchline.sequences.services` (and `sending.task_finish`), reads through
`touchline.sequences.selectors`, always in the request's account: another account's object answers 404.
"""

from importlib import import_module

from touchline.sequences.api.common import router

# Fixed paths first, `/{sequence_id}` last (see above); importing a module adds its endpoints to the router.
MODULES = ("inbound", "library", "enrollments", "tasks", "sequences")
for _module in MODULES:
    import_module(f"{__name__}.{_module}")

__all__ = ["router"]
