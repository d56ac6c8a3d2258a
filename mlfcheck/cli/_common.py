"""What every subcommand shares: exit codes, archive-limit, build and --shard options, one-line
errors."""

from __future__ import annotations

import contextlib
import functools
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from mlfcheck.reading.archive import Limits, MiB
from mlfcheck.reporters.present import term

if TYPE_CHECKING:
    from mlfcheck.board.archivebuild import Builder
    from mlfcheck.reading.csource import CParser

EXIT_CLEAN = 0
EXIT_FOUND = 1
EXIT_TROUBLE = 2

F = TypeVar("F", bound=Callable[..., Any])

_LIMIT_FLAGS = (
    ("--max-members", "max_members", "most members an archive may have"),
    ("--max-member-size", "max_member_size", "largest member, in bytes"),
    ("--max-total-size", "max_total_size", "most bytes all members may total"),
    ("--max-name-length", "max_name_length", "longest member or tensor name"),
    ("--max-metadata-size", "max_metadata_size", "largest metadata.json or graph JSON, in bytes"),
    ("--max-json-depth", "max_json_depth", "deepest JSON nesting"),
    ("--max-header-bytes", "max_header_bytes", "most bytes of PAX/long-name headers in total"),
    ("--max-tensors", "max_tensors", "most tensors in one .params file"),
    ("--max-c-size", "max_c_size", "largest generated C file or header parsed, in bytes"),
    ("--max-c-total", "max_c_total", "most bytes of generated C parsed per archive"),
    ("--max-c-ratio", "max_c_ratio",
     "most bytes of C parsed per byte of a compressed archive, beyond 8 MiB"),
    ("--max-c-parse-steps", "max_c_parse_steps",
     "most steps of one C parse (100 parser operations or one symbol each)"),
    ("--max-c-steps", "max_c_steps",
     "most steps all of an archive's C may take (a parse with a syntax error counts 64 a step)"),
)


def limit_options(fn: F) -> F:
    """Add one option per archive limit; the command receives them folded into `limits`."""
    defaults = Limits()

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {attr: kwargs.pop(attr) for _, attr, _ in _LIMIT_FLAGS}
        kwargs["limits"] = Limits(**values)
        return fn(*args, **kwargs)

    for flag, attr, text in reversed(_LIMIT_FLAGS):
        default = getattr(defaults, attr)
        shown = f"{default // MiB} MiB" if default >= MiB else str(default)
        wrapper = click.option(flag, attr, type=click.IntRange(min=1), default=default,
                               show_default=shown, help=f"Limit: {text}.")(wrapper)
    return wrapper  # type: ignore[return-value]


def build_options(*, default: bool) -> Callable[[F], F]:
    """Add --build/--no-build (on by `default`), --runtime-include and -I/--include; the
    command receives them folded into `build_with`: (runtime include, include folders), or
    None with --no-build."""
    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            build, runtime, includes = (kwargs.pop(k) for k in ("build", "runtime_include",
                                                                 "includes"))
            kwargs["build_with"] = (runtime, includes) if build else None
            return fn(*args, **kwargs)

        folder = click.Path(exists=True, file_okay=False, path_type=Path)
        wrapper = click.option(
            "-I", "--include", "includes", multiple=True, metavar="DIR", type=folder,
            help="With the build: an include folder of a library the C needs "
                 "(repeatable).")(wrapper)
        wrapper = click.option(
            "--runtime-include", type=folder, metavar="DIR",
            help="With the build: the TVM C runtime headers of the exporting version "
                 "(default: the archive's runtime/include, else mlfcheck's own declarations "
                 "of that ABI).")(wrapper)
        wrapper = click.option(
            "--build/--no-build", default=default, show_default=True,
            help="Compile and link the archive's C with the host C compiler (gcc or cc) as a "
                 "consumer builds it (B codes); without a host compiler, one line says "
                 "so.")(wrapper)
        return wrapper  # type: ignore[return-value]
    return decorate


SHARD_PATTERN = re.compile(r"([0-9]{1,9})/([0-9]{1,9})")
"""K/N in ASCII digits ('²'.isdigit() holds, but int('²') fails)."""


def shard_option(command: str, *, default: str | None, help: str) -> Callable[[F], F]:
    """Add --shard K/N: the command receives (K, N) (None when not given and no `default`);
    anything but K/N with 1 ≤ K ≤ N is one line and exit 2."""
    def parse(ctx: click.Context, param: click.Parameter,
              value: str | None) -> tuple[int, int] | None:
        if value is None:
            return None
        m = SHARD_PATTERN.fullmatch(value)
        if m is None or not 1 <= int(m.group(1)) <= int(m.group(2)):
            fail(command, f"--shard {value!r} is not K/N with 1 ≤ K ≤ N")
        return int(m.group(1)), int(m.group(2))

    return click.option("--shard", default=default, show_default=default is not None,
                        metavar="K/N", callback=parse, help=help)


BuildWith = tuple[Path | None, tuple[Path, ...]] | None
"""What the build options ask for: (runtime include folder, include folders), or None."""


def builder(stack: contextlib.ExitStack, build_with: BuildWith, *,
            jobs: int | None = None) -> Builder | None:
    """The builder the build options ask for (None with --no-build): `jobs` compiles at once
    (default: one per available core), its cache removed when `stack` closes."""
    if build_with is None:
        return None
    from mlfcheck import children
    from mlfcheck.board.archivebuild import BuildCache, Builder, Options

    runtime, includes = build_with
    cache = stack.enter_context(BuildCache())
    return Builder(cache, Options(includes, runtime, jobs=jobs or children.available_cores()))


def c_parser() -> CParser:
    """What a command reads C with, shared by every archive it reads: a large batch may be
    parsed by one process per available core (the library itself never decides to fork)."""
    from mlfcheck.reading.csource import CParser

    return CParser(workers=None)


def fail(command: str, message: str) -> NoReturn:
    """Print one line to stderr (archive content in it escaped) and exit 2 ('could not run')."""
    click.echo(f"mlfcheck {command}: error: {term(message)}", err=True)
    sys.exit(EXIT_TROUBLE)


def emit(text: str, output: str | None) -> None:
    """Write a report to a file (whole text at once) or to stdout; a file that cannot be
    written is one line and exit 2. Reporters escape what they print; a lone surrogate that
    one missed is written as `\udcff` rather than ending in a UnicodeEncodeError."""
    data = text.encode("utf-8", "backslashreplace")
    if not output:
        click.echo(data, nl=not text.endswith("\n"))
        return
    try:
        with open(output, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        fail(click.get_current_context().info_name or "", f"cannot write {output}: "
             f"{exc.strerror or exc}")
