"""`devkit stage` against a corpus of secrets and harmless files, and odd path names.

Every token is built here from its vendor's documented format with random characters
(seeded, so the run is deterministic), and split by concatenation so that no string in
this file looks like a live credential to a scanner. The whole corpus is staged by one
real `devkit stage --all --dry-run --json` process; the test reads what it refused.
"""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path

import pytest

from tests.clirun import run_devkit
from tests.gitrepos import commit, git, write

RNG = random.Random(10)
UPPER_DIGITS = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits
B32 = string.ascii_uppercase + "234567"
B64 = ALNUM + "+/"


def rand(alphabet: str, size: int) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(size))


def fake_pem(kind: str) -> str:
    body = "\n".join(rand(B64, 64) for _ in range(6))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"


def private_key(kind: str = "RSA PRIVATE KEY") -> str:
    return fake_pem(kind)


def secrets() -> dict[str, str | bytes]:
    """Path -> content of files that must be refused."""
    aws_id = "AK" + "IA" + rand(B32, 16)
    aws_tmp = "AS" + "IA" + rand(B32, 16)
    aws_secret = rand(B64, 40)
    kube_key = base64.b64encode(private_key().encode()).decode()
    return {
        "deploy/aws.ini": f"[default]\naws_access_key_id = {aws_id}\n",
        "settings/aws_secret.py": f'AWS_SECRET_ACCESS_KEY = "{aws_secret}"\n',
        "ci/session.sh": f"export AWS_ACCESS_KEY_ID={aws_tmp}\n"
        f"export AWS_SECRET_ACCESS_KEY={aws_secret}\n",
        "config/github.yml": "token: " + "gh" + "p_" + rand(ALNUM, 36) + "\n",
        "config/gh_fine.txt": "github" + "_pat_" + rand(ALNUM + "_", 82) + "\n",
        "config/gitlab.toml": 'token = "' + "gl" + "pat-" + rand(ALNUM + "-_", 20) + '"\n',
        "upload/pypirc.cfg": "[pypi]\nusername = __token__\npassword = "
        + "py"
        + "pi-AgEIcHlwaS5vcmc"
        + rand(ALNUM + "-_", 70)
        + "\n",
        "billing/stripe.js": "const key = '" + "sk" + "_live_" + rand(ALNUM, 24) + "';\n",
        "billing/restricted.rb": "KEY = '" + "rk" + "_live_" + rand(ALNUM, 24) + "'\n",
        "web/maps.html": '<script src="https://maps.example/js?key='
        + "AI"
        + "za"
        + rand(ALNUM + "-_", 35)
        + '"></script>\n',
        "app/azure.json": '{"storage": "DefaultEndpointsProtocol=https;AccountName=acct;'
        + "Account"
        + "Key="
        + rand(B64, 86)
        + '==;EndpointSuffix=core.windows.net"}\n',
        "hooks/slack.py": 'URL = "https://' + "hooks.slack.com/services/T"
        f'{rand(UPPER_DIGITS, 8)}/B{rand(UPPER_DIGITS, 8)}/{rand(ALNUM, 24)}"\n',
        "slack/bot.env.json": '{"bot": "' + "xo" + "xb-" + rand(string.digits, 12) + "-"
        f'{rand(string.digits, 13)}-{rand(ALNUM, 24)}"}}\n',
        "kube/config": "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n"
        f"    client-certificate-data: {rand(B64, 60)}\n    client-key-data: {kube_key}\n",
        "infra/terraform.tfstate": '{"version": 4, "resources": [{"instances": [{"attributes"'
        ': {"password": "hunter2"}}]}]}\n',
        "infra/prod.tfstate.backup": '{"version": 4}\n',
        ".streamlit/secrets.toml": 'db_password = "hunter2"\n',
        "keys/server.ppk": "Pu" + "TTY-User-Key-File-3: ssh-rsa\n"
        "Encryption: none\nComment: me\nPublic-Lines: 2\n"
        f"{rand(B64, 64)}\n{rand(B64, 20)}\nPrivate-Lines: 2\n{rand(B64, 64)}\n"
        f"{rand(B64, 20)}\nPrivate-MAC: {rand('0123456789abcdef', 64)}\n",
        "keys/deploy.pem": private_key(),
        "keys/ec.key": private_key("EC PRIVATE KEY"),
        "keys/openssh.txt": private_key("OPENSSH PRIVATE KEY"),
        "home/.ssh/id_ed25519": private_key("OPENSSH PRIVATE KEY"),
        "keys/client.p12": bytes(RNG.randrange(256) for _ in range(300)),
        ".env": f"DATABASE_URL=postgres://app:{rand(ALNUM, 16)}@db/app\n",
        "services/.env.production": f"API_KEY={rand(ALNUM, 32)}\n",
        "home/.git-credentials": f"https://me:{rand(ALNUM, 20)}@github.com\n",
        "home/.netrc": f"machine api.example.com login me password {rand(ALNUM, 16)}\n",
        "frontend/.npmrc": "//registry.npmjs.org/:_auth" + f"Token={rand(ALNUM, 36)}\n",
        "frontend/npm_token.txt": "np" + "m_" + rand(string.ascii_lowercase + "0123456789", 36),
        "ml/openai.py": 'client = OpenAI(api_key="'
        + "sk-"
        + rand(ALNUM, 20)
        + "T3Blbk"
        + "FJ"
        + rand(ALNUM, 20)
        + '")\n',
        "ml/hf.cfg": "hf" + "_" + rand(string.ascii_letters, 34) + "\n",
        "auth/jwt.txt": "Authorization: Bearer ey" + "J" + rand(ALNUM, 30) + ".ey" + "J"
        f"{rand(ALNUM, 40)}.{rand(ALNUM + '-_', 43)}\n",
        "k8s/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\n"
        f"data:\n  password: {base64.b64encode(rand(ALNUM, 24).encode()).decode()}\n",
        "app/settings.py": f'DB_PASSWORD = "{rand(ALNUM + "!@#", 20)}"\n',
        "scripts/deploy.sh": "curl -H 'Authorization: Bearer "
        f"{rand(ALNUM, 40)}' https://api.example.com/deploy\n",
        "config/sendgrid.yml": "sendgrid: "
        + "SG"
        + "."
        + rand(ALNUM + "-_", 22)
        + "."
        + rand(ALNUM + "-_", 43)
        + "\n",
    }


def harmless() -> dict[str, str | bytes]:
    """Path -> content of files that must be staged."""
    cert = fake_pem("CERTIFICATE")
    keynote = b"PK\x03\x04" + bytes(RNG.randrange(256) for _ in range(400)) + b"\0\0"
    return {
        ".env.example": "DATABASE_URL=postgres://user:password@localhost/app\nAPI_KEY=\n",
        "env.sample": "SECRET_KEY=changeme\nSTRIPE_KEY=your-stripe-key\n",
        ".env.template": "API_TOKEN=${API_TOKEN}\nAWS_SECRET_ACCESS_KEY=<your secret key>\n",
        "certs/ca.pem": cert,
        "certs/server.crt": cert,
        "keys/id_rsa.pub": f"ssh-rsa {rand(B64, 200)} me@laptop\n",
        "slides/Talk.key": keynote,
        ".npmrc": "registry=https://registry.npmjs.org/\nsave-exact=true\n",
        "project/.npmrc": "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n",
        "chart/templates/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n"
        "  name: {{ .Release.Name }}\ntype: Opaque\ndata:\n"
        "  password: {{ .Values.password | b64enc | quote }}\n",
        "docs/aws.md": "Example credentials from the AWS documentation:\n\n"
        "    aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        "    aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
        "docs/conflicts.md": "# Resolving conflicts\n\nGit marks them like this:\n\n```\n"
        "<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> feature\n```\n\nPick one.\n",
        "src/keyboard.py": "KEY_UP = 'up'\nkey_down = 'down'\nMONKEY = 'monkey'\n",
        "src/auth.py": "def get_token(request):\n    token = request.headers.get('token')\n"
        "    password = os.environ['PASSWORD']\n    return token\n",
        "src/config.py": "SECRET_KEY = os.environ.get('SECRET_KEY')\nAPI_URL = 'https://api.example.com'\n",
        "package-lock.json": json.dumps(
            {"packages": {"": {"integrity": "sha512-" + rand(B64, 86) + "=="}}}
        ),
        "README.md": "# App\n\nSet `GITHUB_TOKEN` in your environment, then run `make`.\n",
        "data/uuids.csv": "\n".join(
            f"{rand('0123456789abcdef', 8)}-{rand('0123456789abcdef', 4)}" for _ in range(20)
        ),
        "src/hashes.py": f'COMMIT = "{rand("0123456789abcdef", 40)}"\n',
        "images/logo.png": b"\x89PNG\r\n\x1a\n" + bytes(RNG.randrange(256) for _ in range(300)),
        "config/secrets.yaml.example": "db_password: CHANGE_ME\napi_key: <api-key>\n",
        "ci/workflow.yml": "env:\n  TOKEN: ${{ secrets.GITHUB_TOKEN }}\n"
        "  NPM_TOKEN: ${{ secrets.NPM_TOKEN }}\n",
        "docs/keys.rst": "Keys\n====\n\nUse ``ssh-keygen -t ed25519`` to make a key pair.\n",
        "tests/fixture.py": "KEY = '" + "sk" + "_live_" + rand(ALNUM, 24) + "'  # gitleaks:allow\n",
        "tests/test_login.py": "def test_login():\n    assert login('user', 'password')\n",
    }


@pytest.fixture
def corpus_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    commit(repo, "base", {"base.txt": "base\n"})
    return repo


def test_stage_catches_secrets_and_passes_harmless_files(corpus_repo: Path) -> None:
    bad, good = secrets(), harmless()
    assert len(bad) >= 30 and len(good) >= 20
    for rel, content in {**bad, **good}.items():
        write(corpus_repo, rel, content)
    done = run_devkit(["stage", "--all", "--dry-run", "--json"], cwd=corpus_repo)
    refused = {r["path"]: r["detail"] for r in json.loads(done.stdout)["data"]["refused"]}
    missed = sorted(set(bad) - set(refused))
    false_refusals = {p: d for p, d in refused.items() if p in good}
    assert len(missed) <= len(bad) * 0.05, f"missed: {missed}"
    assert len(false_refusals) <= len(good) * 0.05, f"refused: {false_refusals}"
    # What the README promises passes, each one.
    promised = [".env.example", ".env.template", "certs/ca.pem", "docs/aws.md", "tests/fixture.py"]
    assert not set(promised) & set(refused), refused
    assert git(corpus_repo, "diff", "--cached", "--name-only") == ""


def test_every_shipped_rule_compiles_and_none_was_skipped() -> None:
    import re

    from devkit.gitflow.secretscan import RULES_FILE

    data = json.loads(RULES_FILE.read_text())
    assert data["source"].startswith("https://github.com/gitleaks/gitleaks/")
    assert len(data["rules"]) >= 200
    # tools/update_secret_rules.py converts what Python's re spells differently; what
    # it cannot convert is listed here. Today every rule of gitleaks v8.30.1 converts.
    assert data["skipped"] == []
    for rule in data["rules"]:
        for key in ("regex", "path"):
            if key in rule:
                re.compile(rule[key], re.ASCII)
    assert (RULES_FILE.parent / "secret_rules.LICENSE").read_text().startswith("MIT License")


@pytest.mark.parametrize(
    "name",
    ["line\nbreak.env", "quo'te\"d/.env", "ünïcödé/.env", "add 'x'\nadd 'y'/.env", " space .env"],
)
def test_odd_path_names_do_not_bypass_the_checks(corpus_repo: Path, name: str) -> None:
    write(corpus_repo, name, "TOKEN=abc\n")
    write(corpus_repo, "fine.txt", "fine\n")
    done = run_devkit(["stage", "--all", "--json"], cwd=corpus_repo)
    assert done.returncode == 1, done.stdout + done.stderr
    refused = [r["path"] for r in json.loads(done.stdout)["data"]["refused"]]
    assert refused == [name]
    assert git(corpus_repo, "diff", "--cached", "--name-only") == ""
    forced = run_devkit(["stage", "--all", "--force", "--json"], cwd=corpus_repo)
    assert forced.returncode == 0
    staged = git(corpus_repo, "diff", "--cached", "--name-only", "-z").split("\0")
    assert name in staged


def test_a_file_staged_with_force_is_not_refused_again(corpus_repo: Path) -> None:
    from devkit.gitflow import stage_paths

    write(corpus_repo, ".env", "TOKEN=abc\n")
    assert stage_paths(corpus_repo, all_changes=True).exit_code == 1
    assert stage_paths(corpus_repo, all_changes=True, force=True).exit_code == 0
    write(corpus_repo, "later.txt", "later\n")
    again = stage_paths(corpus_repo, all_changes=True)
    assert again.exit_code == 0 and again.refused == ()
    assert sorted(p for _, p in again.staged) == [".env", "later.txt"]
    # Changing the forced file again is a new change: checked again.
    write(corpus_repo, ".env", "TOKEN=abcd\n")
    assert stage_paths(corpus_repo, all_changes=True).exit_code == 1


def test_go_regex_conversion_scopes_flags_and_spells_classes() -> None:
    pytest.importorskip("tomllib")  # the converter runs on Python 3.11+
    import importlib.util

    tool = Path(__file__).resolve().parents[2] / "tools" / "update_secret_rules.py"
    spec = importlib.util.spec_from_file_location("update_secret_rules", tool)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    convert = module.go_to_python
    # Go: a flag group in the middle applies to the end of its group, across `|`.
    assert convert(r"\b(p8e-(?i)[a-z0-9]{32})") == r"\b(p8e-(?i:[a-z0-9]{32}))"
    assert convert(r'(?:"(?i)ab|cd)') == r'(?:"(?i:ab)|(?i:cd))'
    assert convert(r"(?i)abc") == r"(?i)abc"
    assert convert(r"[[:alnum:]]+\z") == r"[a-zA-Z0-9]+\Z"
    with pytest.raises(module.Unsupported):
        convert(r"\p{Greek}")
