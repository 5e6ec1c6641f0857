"""Examples shown at the end of each command's --help (and in `devkit man`).

Kept apart from the command definitions so that every command gets them the same way;
a test checks that each example names a real command and only options it has."""

from __future__ import annotations

EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "run": (
        ("devkit run", "the default task of the nearest devkit.yaml"),
        ("devkit run deploy.yaml release --var version=1.4 --dry-run", "see what would run"),
        ("devkit run --list", "tasks, descriptions and variables"),
    ),
    "extract": (
        ("devkit extract release.tar.gz -C /srv/app", "into /srv/app/release (or its top folder)"),
        ("devkit extract backup.7z --password-env BACKUP_PASSWORD", "an encrypted archive"),
        ("devkit extract data.zip --list --json", "the members, for a script"),
    ),
    "init": (
        ("devkit init", "a repository here, with a first commit"),
        ("devkit init app --gitignore python --remote git@host:app.git", "and a remote"),
    ),
    "stage": (
        ("devkit stage --all", "everything, refusing secrets and huge files"),
        ("devkit stage src/ README.md --dry-run", "what would be staged"),
    ),
    "commit": (
        ('devkit commit -m "Fix the parser"', "what is staged"),
        ('devkit commit --all -m "WIP"', "every tracked change"),
    ),
    "sync": (
        ("devkit sync", "this repository, in the default mode"),
        ("devkit sync ~/src/* -j 8 -q", "many repositories, only problems shown"),
        ("devkit sync --mode ff-only --no-push", "only fast-forward, push nothing"),
        ("devkit sync -u", "also create a new branch on the remote and track it"),
    ),
    "conflicts": (
        ("devkit conflicts", "what merging the upstream would conflict on"),
        ("devkit conflicts origin/main --json", "against another branch, for a script"),
    ),
    "undo": (
        ("devkit undo", "put the current branch back as it was before the last sync"),
        ("devkit undo -C ~/src/app", "in another repository"),
    ),
    "fleet": (
        ("devkit fleet install --hosts 'web[01:04].example.com'", "devkit on four servers"),
        ("devkit fleet install -i hosts.yaml --limit 'web:!web03'", "from an inventory"),
    ),
    "config": (
        ("devkit config", "every setting, its value and where it came from"),
        ("devkit config --json", "the same, for a script"),
    ),
    "man": (
        ("devkit man | man -l -", "read the manual page"),
        ("devkit man > ~/.local/share/man/man1/devkit.1", "install it for `man devkit`"),
    ),
}


def epilog(name: str, *, rich: bool) -> str | None:
    """The examples as a help epilog: aligned lines that neither click's plain
    formatter (the \\b marker) nor rich's markup (escaped brackets) rewrites."""
    examples = EXAMPLES.get(name)
    if not examples:
        return None
    width = max(len(command) for command, _ in examples)
    lines = [f"  {command.ljust(width)}   # {why}" for command, why in examples]
    if rich:
        lines = [line.replace("[", "\\[") for line in lines]
        return "Examples:\n" + "\n".join(lines)
    return "\b\nExamples:\n" + "\n".join(lines)
