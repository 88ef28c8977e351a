"""Developer tool: autogenerate a new migration from the models.

Usage::

    python -m glutemed.store.revision "add column X to visits"

It migrates a scratch SQLite database to the current head, compares it with the models and
writes ``migrations/versions/NNNN_<slug>.py``. Review the file (Alembic cannot see renames) and
test it on SQLite and PostgreSQL (``pytest tests/store``).
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Write a new migration file; return the exit status."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from glutemed.store._db import _alembic_config, upgrade_to_head

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m glutemed.store.revision MESSAGE\n")
        return 2
    message = args[0]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'scratch.sqlite3'}"
        upgrade_to_head(url)
        cfg = _alembic_config(url)
        script = ScriptDirectory.from_config(cfg)
        n = len(list(script.walk_revisions())) + 1
        slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40]
        command.revision(cfg, message=message, autogenerate=True, rev_id=f"{n:04d}", head="head")
        created = sorted(Path(script.versions).glob(f"{n:04d}_*.py"))
        for path in created:
            path.rename(path.with_name(f"{n:04d}_{slug}.py"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
