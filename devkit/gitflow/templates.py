"""Built-in .gitignore templates for `devkit init --gitignore NAME,...`."""

from __future__ import annotations

GITIGNORE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "python": (
        "__pycache__/",
        "*.py[cod]",
        "*.egg-info/",
        ".eggs/",
        "build/",
        "dist/",
        ".venv/",
        "venv/",
        ".pytest_cache/",
        ".mypy_cache/",
        ".ruff_cache/",
        ".coverage",
        "htmlcov/",
        ".tox/",
    ),
    "node": (
        "node_modules/",
        "npm-debug.log*",
        "yarn-debug.log*",
        "yarn-error.log*",
        ".pnpm-store/",
        "dist/",
        "coverage/",
        ".next/",
        ".cache/",
    ),
    "go": ("*.exe", "*.test", "*.out", "/vendor/", "go.work.sum"),
    "rust": ("/target/", "**/*.rs.bk"),
    "java": ("*.class", "*.jar", "target/", "build/", ".gradle/", "out/"),
    "c": ("*.o", "*.obj", "*.so", "*.a", "*.dylib", "*.dll", "*.exe", "build/"),
    "macos": (".DS_Store", ".AppleDouble", ".LSOverride", "._*"),
    "windows": ("Thumbs.db", "ehthumbs.db", "Desktop.ini", "$RECYCLE.BIN/"),
    "linux": ("*~", ".directory", ".Trash-*"),
    "editors": (".idea/", ".vscode/", "*.swp", "*.swo", "*.sublime-workspace"),
    "secrets": (".env", ".env.*", "!.env.example", "*.pem", "*.key", "id_rsa", "id_ed25519"),
}


def render_templates(names: list[str]) -> str:
    blocks = []
    for name in names:
        lines = "\n".join(GITIGNORE_TEMPLATES[name])
        blocks.append(f"# devkit: {name}\n{lines}\n")
    return "\n".join(blocks)
