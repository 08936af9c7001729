"""The `contactcenter agents import` command (docs/admin.md, "Command line and CSV import"):
agents from a CSV file, all or nothing, through contactcenter/agents/csv_import.py. The file
is checked before any storage is touched; the generated one-time passwords go to a file the
operator names, created with mode 0600, and removed again if the import fails. Help and
parser: cli_agents.py."""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from contactcenter.agents import validation
from contactcenter.agents.audit import CLI
from contactcenter.agents.csv_import import (
    ImportNotAnnounced,
    ImportRejected,
    ImportReport,
    import_agents,
    read_file,
)
from contactcenter.agents.service import AdminService
from contactcenter.agents.team_service import TeamAdmin
from contactcenter.cli_admin import with_admin
from contactcenter.core.errors import InvalidInput
from contactcenter.site_settings import SiteSettings


def _private_file(path: Path) -> Any:
    """A new file only its owner may read, from the moment it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInput(f"{path} exists: name a new file", field="passwords_out") from None
    except OSError as exc:
        raise InvalidInput(f"cannot create {path}: {exc.strerror}", field="passwords_out") from None
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def run_import(settings: SiteSettings, args: argparse.Namespace) -> int:
    known = validation.known_skills(settings)
    rows, errors = read_file(args.file, known, show_progress=not args.quiet)
    path: Path | None = args.passwords_out
    out = _private_file(path) if path else None
    kept = False

    def keep(generated: Mapping[str, str]) -> None:
        nonlocal kept
        assert out is not None
        writer = csv.writer(out)
        writer.writerow(("login", "password"))
        writer.writerows(generated.items())
        out.flush()
        os.fsync(out.fileno())  # on disk before the agents exist
        kept = True

    async def work(admin: AdminService, _: TeamAdmin) -> ImportReport:
        return await import_agents(admin, rows, errors=errors, actor=CLI, update=args.update,
                                   keep_passwords=keep if out else None,
                                   show_progress=not args.quiet)  # fmt: skip

    try:
        report = with_admin(settings, work)
    except BaseException as exc:
        if out is not None:
            out.close()
        if path is None:
            raise
        if not kept or isinstance(exc, ImportRejected):  # rolled back: no such agents
            path.unlink(missing_ok=True)
        elif not isinstance(exc, ImportNotAnnounced):  # lost at the commit: unknown outcome
            print(f"the database did not confirm the import: `contactcenter agents list` says"
                  f" whether the agents exist; their one-time passwords are in {path}",
                  file=sys.stderr)  # fmt: skip
        raise
    if out is not None:
        out.close()
    print(f"{args.file}: {len(rows)} agent(s): {len(report.created)} created,"
          f" {len(report.updated)} updated, {len(report.unchanged)} unchanged")  # fmt: skip
    if report.generated:
        print(f"{len(report.generated)} one-time password(s) in {path} (mode 0600)")
    elif path is not None:
        path.unlink(missing_ok=True)
        print(f"no password was generated; {path} is not kept")
    return 0
