"""Git flows that never lose work: init, stage, commit, sync, conflicts, undo.

Every git child starts through devkit.process (gitcmd.run_git): its own process
group, a deadline, the signal policy. Each public function takes `env=`, the
environment its git children start with and its settings are read from (os.environ
when None). Importing the package is cheap: the public functions load their modules
on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devkit.gitflow.results import (
    CommitResult,
    ConflictReport,
    InitResult,
    RepoSyncResult,
    StageResult,
    SyncReport,
    UndoResult,
)
from devkit.lazy import lazy_attributes

if TYPE_CHECKING:
    from devkit.gitflow.conflicts import report_conflicts
    from devkit.gitflow.local import create_commit, init_repository, stage_paths
    from devkit.gitflow.sync import sync_repositories
    from devkit.gitflow.undo import undo_last_sync

_LAZY = {
    "init_repository": "devkit.gitflow.local",
    "stage_paths": "devkit.gitflow.local",
    "create_commit": "devkit.gitflow.local",
    "sync_repositories": "devkit.gitflow.sync",
    "report_conflicts": "devkit.gitflow.conflicts",
    "undo_last_sync": "devkit.gitflow.undo",
}

__all__ = [
    "CommitResult",
    "ConflictReport",
    "InitResult",
    "RepoSyncResult",
    "StageResult",
    "SyncReport",
    "UndoResult",
    "create_commit",
    "init_repository",
    "report_conflicts",
    "stage_paths",
    "sync_repositories",
    "undo_last_sync",
]


__getattr__ = lazy_attributes(__name__, _LAZY)
