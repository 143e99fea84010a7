"""Write the references derived from Veil's option and command definitions: the Dataflow template's metadata and
the CLI reference.

    python -m pipelines.reference        (make docs)

Both are derived from schemas/options.py and the commands' parsers; tests/pipelines/test_options.py fails when a
checked-in copy differs from what this writes, so a changed option cannot leave them behind.
"""

from __future__ import annotations

import json
import os
import re

from pipelines import cli
from schemas.options import ANONYMIZE, OPTIONS, REPEATED, SWITCH, Option

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE_METADATA = os.path.join("deploy", "dataflow", "metadata.json")
CLI_REFERENCE = os.path.join("docs", "cli.md")
REQUIRED = ("input", "output")
"""Template parameters a launch must give."""
TEMPLATE_NAME = "Veil: anonymize CCTV footage"
TEMPLATE_DESCRIPTION = (
    "Destroys every face in a CCTV archive that the registries do not link to a consented service session, seals "
    "the faces it may keep per account, and writes Parquet tables of what it did (veil anonymize). Launch with "
    "sdk_container_image set to the Veil worker image unless the launcher was built with it (make template does)."
)
REGEXES = {
    int: ["^[0-9]+$"],
    float: ["^[0-9]+(\\.[0-9]+)?$"],
    SWITCH: ["^(true|false)$"],
}
"""What a template parameter of each type must look like (Flex Templates pass every value as text)."""
GCS_URI = "^gs://[^\\n\\r]+$"


def _regexes(option: Option) -> list[str]:
    if option.uri:
        return [GCS_URI]
    if option.choices:
        return ["^(" + "|".join(re.escape(c) for c in option.choices) + ")$"]
    if option.pattern:
        return [option.pattern]
    return REGEXES.get(option.type, [])


def template_metadata() -> dict:
    """deploy/dataflow/metadata.json: a parameter per option of veil anonymize that has a template label."""
    parameters = []
    for option in OPTIONS:
        if option.owner != ANONYMIZE or not option.label or option.type is REPEATED:
            continue
        parameter = {
            "name": option.name,
            "label": option.label,
            "helpText": option.described[0].upper() + option.described[1:] + ".",
            "isOptional": option.name not in REQUIRED,
        }
        if regexes := _regexes(option):
            parameter["regexes"] = regexes
        parameters.append(parameter)
    return {"name": TEMPLATE_NAME, "description": TEMPLATE_DESCRIPTION, "parameters": parameters}


def cli_reference() -> str:
    """docs/cli.md: every command's --help, as the command prints it."""
    parts = [
        "# veil command reference",
        "",
        "Written by `make docs` (`python -m pipelines.reference`) from the definitions the commands parse with",
        "(`schemas/options.py` and each command's parser); do not edit it by hand.",
        "",
        "```text",
        cli.usage(),
        "```",
    ]
    for command in cli.COMMANDS:
        parts += ["", f"## veil {command}", "", "```text", cli.command_help(command).rstrip(), "```"]
    return "\n".join(parts) + "\n"


def rendered() -> dict[str, str]:
    """Each derived file's path (from the repository root) and its text."""
    return {
        TEMPLATE_METADATA: json.dumps(template_metadata(), indent=2, ensure_ascii=False) + "\n",
        CLI_REFERENCE: cli_reference(),
    }


def main() -> None:
    for path, text in rendered().items():
        with open(os.path.join(ROOT, path), "w", encoding="utf-8") as handle:
            handle.write(text)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
