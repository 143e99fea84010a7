"""Flex Template entry point (FLEX_TEMPLATE_PYTHON_PY_FILE): submit the anonymize job to Dataflow and return.

Google's Flex Template docs say the launching program must exit after ``run()`` and not call ``wait_until_finish``,
so this is the anonymize job's own ``run(argv, wait=False)``: the same parsing, preparation and graph as
``veil anonymize``, only submitted; validation and the run report are the scheduled ``veil validate``
(deploy/schedules/validate-daily.yaml).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from pipelines import anonymize
from schemas.options import ANONYMIZE, OPTIONS, SWITCH

WORKER_IMAGE = "VEIL_WORKER_IMAGE"
"""Set by deploy/dataflow/Dockerfile to the worker image built with the launcher, so both carry the same Veil."""


def switches() -> set[str]:
    """Template parameters that are on/off flags on the command line (they take no value there)."""
    return {o.name for o in OPTIONS if o.owner == ANONYMIZE and o.type is SWITCH}


def flex_args(argv: Sequence[str]) -> list[str]:
    """The template's arguments as anonymize.parse takes them."""
    flags = switches()
    args = []
    for arg in argv:
        name, eq, value = arg.partition("=")
        if eq and name.startswith("--") and name[2:].replace("-", "_") in flags:
            # Flex Templates pass every parameter as --name=value; argparse refuses a value on a store_true flag.
            if value.lower() not in ("true", "false"):
                raise ValueError(f"{name} takes true or false, not {value!r}")
            args += [name] if value.lower() == "true" else []
        else:
            args.append(arg)
    if not any(a.startswith("--runner") for a in args):
        # anonymize.parse would otherwise pick the local runner and run the whole archive on the launcher VM.
        args.append("--runner=DataflowRunner")
    if os.environ.get(WORKER_IMAGE) and not any(a.startswith("--sdk_container_image") for a in args):
        args.append(f"--sdk_container_image={os.environ[WORKER_IMAGE]}")
    return args


def main(argv: Sequence[str] | None = None) -> str:
    """Submit the anonymize job with the template's parameters; returns the run id."""
    args = flex_args(sys.argv[1:] if argv is None else argv)
    runner = next((a.split("=", 1)[1] for a in args if a.startswith("--runner=")), "").lower()
    if "dataflow" in runner and not any(a.startswith("--sdk_container_image") for a in args):
        raise ValueError(
            "--sdk_container_image is required: Dataflow's default worker image has no MediaPipe, "
            "OpenCV or PyAV (build deploy/dataflow/worker.Dockerfile with `make template`)"
        )
    run_id = anonymize.run(args, wait=False).settings.run_id
    logging.info("veil anonymize run %s submitted", run_id)
    return run_id


if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    main()
