"""Print the gcloud command that creates the Cloud Scheduler job a deploy/schedules YAML file defines.

Usage:  PROJECT=... REGION=... BUCKET=... KEY_BUCKET=... python deploy/schedules/gcloud_command.py FILE.yaml | sh
"""

from __future__ import annotations

import json
import os
import shlex
import string
import sys
from collections.abc import Mapping

import yaml


def load(path: str, env: Mapping[str, str] = os.environ) -> dict:
    """The job definition with its ${NAME} placeholders filled from env; a missing one raises KeyError."""
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(string.Template(handle.read()).substitute(env))


def command(job: dict) -> list[str]:
    """`gcloud scheduler jobs create http` with the job's fields; the body goes as JSON, as the REST APIs take it."""
    _, project, _, location, _, name = job["name"].split("/")
    target = job["httpTarget"]
    headers = ",".join(f"{k}={v}" for k, v in target.get("headers", {}).items())
    return [
        "gcloud",
        "scheduler",
        "jobs",
        "create",
        "http",
        name,
        f"--project={project}",
        f"--location={location}",
        f"--description={job['description']}",
        f"--schedule={job['schedule']}",
        f"--time-zone={job['timeZone']}",
        f"--attempt-deadline={job['attemptDeadline']}",
        f"--uri={target['uri']}",
        f"--http-method={target['httpMethod']}",
        f"--headers={headers}",
        f"--message-body={json.dumps(target['body'], separators=(',', ':'))}",
        f"--oauth-service-account-email={target['oauthToken']['serviceAccountEmail']}",
        f"--oauth-token-scope={target['oauthToken']['scope']}",
    ]


if __name__ == "__main__":
    try:
        job = load(sys.argv[1])
    except KeyError as missing:
        sys.exit(f"gcloud_command.py: set {missing.args[0]} (PROJECT, REGION, BUCKET and KEY_BUCKET are used)")
    print(shlex.join(command(job)))
