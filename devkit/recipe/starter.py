"""The starter recipe `devkit run --init` writes: valid and runnable as written, with
each commented block a feature to switch on."""

from __future__ import annotations

SCHEMA_FILE = ".devkit-schema.json"

STARTER = """\
# yaml-language-server: $schema=.devkit-schema.json
# A devkit recipe. Run `devkit run` (the default task), `devkit run --list`,
# `devkit run TASK`, or `devkit run --dry-run` to see every command first.
# `.devkit-schema.json` (from `devkit run --schema`) gives editors completion.
version: 1
description: What this project's chores are for

vars:
  greeting: hello
  # Values reach steps as one word each, never as shell code; override with
  #   devkit run --var greeting=hi

# env:                      # environment for every step
#   PYTHONUNBUFFERED: "1"
# dotenv: [.env?]           # KEY=VALUE files; '?' marks one as optional
# secrets: [API_TOKEN]      # read from the environment, masked in all output

tasks:
  hello:
    desc: Say hello (the default task)
    steps:
      - run: echo "{{ greeting }} from $(pwd)"

  check:
    desc: An example of checks before work, retries and cleanup
    requires:
      - run: command -v git
        message: this task needs git
    steps:
      - name: show the git version
        run: git --version
        timeout: 30s
        retry: {attempts: 2, delay: 1s}
    finally:
      - run: echo "finally steps always run"

  # build:
  #   desc: Skipped while its sources and outputs are unchanged
  #   sources: ["src/**/*.py"]
  #   outputs: [dist/]
  #   steps:
  #     - run: python -m build
  #
  # update:
  #   desc: Bring the checkout up to date (never loses local work)
  #   steps:
  #     - git: sync
  #       repo: .
  #       mode: ff-only
  #
  # unpack:
  #   desc: Extract a release safely and atomically
  #   steps:
  #     - extract: release.tar.gz
  #       to: build/release
  #
  # deploy:
  #   desc: Ask first, then run the steps one by one
  #   needs: [build]
  #   confirm: Deploy now?
  #   lock: .deploy.lock
  #   steps:
  #     - run: ./deploy.sh
  #   on_failure:
  #     - run: echo "deploy failed"

default: hello
"""
