"""How reader fuzzing reads a mutated input: the mlfcheck command line that replays it, and the
library calls behind that command run as the CLI runs them, giving the exit code it documents.
"""

from __future__ import annotations

from pathlib import Path

from mlfcheck.fuzz.reader import MutationSpec


def command_line(spec: MutationSpec, path: Path, pristine: Path) -> list[str]:
    """The mlfcheck arguments that read the mutated input `path`."""
    fmt = ["--format", "json"] if spec.command.endswith("-json") else []
    if spec.command == "diff":
        return ["diff", str(pristine), str(path)]
    if spec.command == "diff-reversed":
        return ["diff", str(path), str(pristine)]
    return [spec.command.removesuffix("-json"), str(path), *fmt]


def read_as_the_cli_does(spec: MutationSpec, path: Path, pristine: Path) -> int:
    """Run the library behind the command `spec` names on `path` and render its report, as
    the CLI would; return the exit code the CLI documents for the outcome (0 clean, 1
    problems found, 2 could not read). Only MlfcheckError is a documented failure."""
    from mlfcheck.diff import FAIL_ON, diff_archives
    from mlfcheck.errors import MlfcheckError
    from mlfcheck.reading.summary import summarize
    from mlfcheck.reporters import show as show_reporters
    from mlfcheck.reporters import validate as validate_reporters
    from mlfcheck.reporters.diff import RENDERERS as DIFF_RENDERERS
    from mlfcheck.reporters.diff import Options
    from mlfcheck.validate import validate

    fmt = "json" if spec.command.endswith("-json") else "text"
    try:
        if spec.command.startswith("validate"):
            report = validate(path)
            validate_reporters.RENDERERS[fmt]([report])
            return 0 if report.ok else 1
        if spec.command.startswith("show"):
            show_reporters.RENDERERS[fmt](summarize(path))
            return 0
        old, new = (pristine, path) if spec.command == "diff" else (path, pristine)
        result = diff_archives(old, new)
        DIFF_RENDERERS[fmt](result, Options())
        return 1 if result.fails(FAIL_ON["breaking"]) or result.invalid else 0
    except MlfcheckError:
        return 2
