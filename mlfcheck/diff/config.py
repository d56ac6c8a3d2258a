"""Diff configuration: `[tool.mlfcheck.diff]` in pyproject.toml or `[diff]` in mlfcheck.toml.

```toml
[tool.mlfcheck.diff]
levels = { D405 = "warning", D112 = "info" }   # per-rule level overrides
thresholds = { workspace = "10%", constants = "2048", code = "5%" }

[[tool.mlfcheck.diff.allow]]
rule = "D201"                       # required
module = "default"                  # optional: only this module
subject = "main workspace*"         # optional: fnmatch pattern on the subject
reason = "USMP disabled until #123"  # required
expires = 2025-06-30                # optional: TOML date or "YYYY-MM-DD"
```
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from jsonschema.exceptions import best_match

from mlfcheck.diff.result import Change, ConfigOverrides
from mlfcheck.diff.rules import Level, Rule
from mlfcheck.errors import UsageError
from mlfcheck.reading import schemas, userfile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 needs the tomli backport
    import tomli as tomllib  # type: ignore[import-not-found]

METRICS = ("workspace", "constants", "code", "flash", "ram", "instructions")
"""Metrics that have a growth threshold (D201/D206, D203, D406; with --board D211, D213, D215)."""

_THRESHOLD = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)(?![0-9])\s*(?:(%|B|KiB|MiB)\s*)?$")
r"""ASCII digits. Linear: the blanks after the unit belong to it, so two runs of blanks never
trade characters (`\s*(unit)?\s*` took hours on '1' and a million spaces), and no digit is
given back to retry the rest (a million digits: 0.05 s)."""
_UNITS = {None: 1, "B": 1, "KiB": 1024, "MiB": 1024 * 1024}
MAX_THRESHOLD = 2.0**63
"""Thresholds at or above this (bytes or percent) are refused: no archive is that large."""


@dataclass(frozen=True)
class Threshold:
    """How much a metric may grow before it is a warning: bytes, or percent of the old value."""

    value: float
    percent: bool

    @classmethod
    def parse(cls, text: str, *, what: str) -> Threshold:
        """'10%', '4096', '4096B', '4KiB' or '1MiB'; UsageError otherwise."""
        m = _THRESHOLD.match(str(text))
        if m is None:
            raise UsageError(f"{what}: threshold {text!r} is not a number of bytes or a "
                             "percentage (e.g. 4096, 4KiB, 10%)")
        number, unit = float(m.group(1)), m.group(2)
        if number * _UNITS.get(unit, 1) >= MAX_THRESHOLD:
            raise UsageError(f"{what}: threshold {m.group(1)}{unit or ''} is too large")
        if unit == "%":
            return cls(number, True)
        return cls(number * _UNITS[unit], False)

    def exceeded(self, old: int, new: int) -> bool:
        """True when growing from `old` to `new` is more than allowed (shrinking never is)."""
        growth = new - old
        if growth <= 0:
            return False
        if not self.percent:
            return growth > self.value
        return old == 0 or growth * 100 > self.value * old

    def judge(self, metric: str, old: int, new: int) -> tuple[bool, str]:
        """(over the threshold?, reason) for `metric` that changed from `old` to `new`."""
        over = self.exceeded(old, new)
        if new <= old:
            return False, f"the {metric} shrank"
        return over, f"{'over' if over else 'within'} the {metric} threshold"

    def __str__(self) -> str:
        if self.percent:
            return f"{self.value:g}%"
        return f"{int(self.value)} B"


DEFAULT_THRESHOLDS = {"workspace": Threshold(5, True), "constants": Threshold(5, True),
                      "code": Threshold(5, True)}
BOARD_THRESHOLDS = {"flash": Threshold(5, True), "ram": Threshold(5, True),
                    "instructions": Threshold(5, True)}
"""Defaults of the metrics only `diff --board` measures (listed in a result only then)."""


@dataclass(frozen=True)
class AllowEntry:
    """One allow-list entry: which changes it accepts, why, and until when."""

    rule: Rule
    reason: str
    module: str | None = None
    subject: str | None = None
    """An fnmatch pattern on the change's subject."""
    expires: dt.date | None = None

    def matches(self, change: Change) -> bool:
        """True when this entry describes `change`."""
        return (change.rule == self.rule
                and (self.module is None or change.module == self.module)
                and (self.subject is None or fnmatchcase(change.subject, self.subject)))

    def describe(self) -> str:
        """The entry in one line, for reports of expired or unused entries."""
        parts = [self.rule.name]
        if self.module is not None:
            parts.append(f"module={self.module}")
        if self.subject is not None:
            parts.append(f"subject={self.subject!r}")
        if self.expires is not None:
            parts.append(f"expires={self.expires.isoformat()}")
        return " ".join(parts)


@dataclass(frozen=True)
class DiffConfig:
    """Level overrides, thresholds and the allow-list; the defaults when no file is used."""

    levels: dict[Rule, Level] = field(default_factory=dict)
    thresholds: dict[str, Threshold] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    allow: tuple[AllowEntry, ...] = ()
    source: str | None = None
    """The file the configuration came from."""
    no_config: bool = False
    """True with --no-config: the defaults, and no file was looked for."""

    def level_of(self, rule: Rule) -> Level:
        """The level in force for `rule`."""
        return self.levels.get(rule, rule.level)

    def with_thresholds(self, overrides: dict[str, Threshold]) -> DiffConfig:
        """A copy with some thresholds replaced (command-line flags win over the file)."""
        return replace(self, thresholds={**self.thresholds, **overrides})

    def overrides(self) -> ConfigOverrides:
        """What this configuration changes from the defaults, for reports."""
        defaults = {**BOARD_THRESHOLDS, **DEFAULT_THRESHOLDS}
        return ConfigOverrides(
            no_config=self.no_config,
            levels=tuple((r, self.levels[r]) for r in Rule
                         if r in self.levels and self.levels[r] != r.level),
            thresholds=tuple((m, str(defaults[m]), str(t))
                             for m, t in sorted(self.thresholds.items()) if t != defaults[m]),
            allow=tuple((e.describe(), e.reason) for e in self.allow))


def parse_threshold_option(text: str) -> tuple[str, Threshold]:
    """A `--threshold metric=VALUE` option."""
    metric, sep, value = text.partition("=")
    metric = metric.strip()
    if not sep or metric not in METRICS:
        raise UsageError(f"--threshold {text!r}: expected METRIC=VALUE with METRIC one of "
                         f"{', '.join(METRICS)}")
    return metric, Threshold.parse(value, what=f"--threshold {metric}")


def config_for(path: str | None, *, no_config: bool, start: Path) -> DiffConfig:
    """The configuration of a `diff` or `audit` run: `--config` PATH, the defaults with
    `--no-config`, else the nearest file at or above `start`. UsageError when both are given."""
    if no_config:
        if path is not None:
            raise UsageError("--config and --no-config cannot both be given")
        return DiffConfig(no_config=True)
    return load_config(Path(path) if path is not None else find_config(start))


def find_config(start: Path) -> Path | None:
    """The nearest mlfcheck.toml, or pyproject.toml with [tool.mlfcheck], at or above `start`."""
    for folder in (start, *start.parents):
        own = folder / "mlfcheck.toml"
        if own.is_file():
            return own
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and _mlfcheck_table(_read(pyproject), pyproject) is not None:
            return pyproject
    return None


SCHEMA = "diff-config.schema.json"


def _mlfcheck_table(doc: dict[str, Any], path: Path) -> Any:
    """pyproject.toml's [tool.mlfcheck] (None when absent); UsageError when [tool] is not a
    table."""
    tool = doc.get("tool", {})
    if not isinstance(tool, dict):
        raise UsageError(f"{path}: [tool] must be a table")
    return tool.get("mlfcheck")


def load_config(path: Path | None) -> DiffConfig:
    """The configuration in `path` (None: the defaults). Raises UsageError on any mistake."""
    if path is None:
        return DiffConfig()
    doc = _read(path)
    table = _mlfcheck_table(doc, path) if path.name == "pyproject.toml" else doc
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.mlfcheck] must be a table")
    where = f"{path}: [{'tool.mlfcheck.' if path.name == 'pyproject.toml' else ''}diff]"
    section = _jsonable(table.get("diff", {}))
    error = best_match(schemas.validator(SCHEMA).iter_errors(section))
    if error is not None:
        leaf = schemas.best_leaf(error)
        at = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in leaf.absolute_path)
        raise UsageError(f"{where}{at}: {schemas.describe(leaf)} (schema {SCHEMA})")
    levels = {Rule.parse(k, what=f"{where}.levels"): Level.parse(v, what=f"{where}.levels.{k}")
              for k, v in section.get("levels", {}).items()}
    thresholds = dict(DEFAULT_THRESHOLDS)
    for metric, value in section.get("thresholds", {}).items():
        if metric not in METRICS:
            raise UsageError(f"{where}.thresholds: unknown metric {metric!r}; expected "
                             f"{', '.join(METRICS)}")
        thresholds[metric] = Threshold.parse(str(value), what=f"{where}.thresholds.{metric}")
    allow = tuple(_allow_entry(entry, f"{where}.allow[{i}]")
                  for i, entry in enumerate(section.get("allow", [])))
    return DiffConfig(levels, thresholds, allow, str(path))


def _jsonable(value: Any) -> Any:
    """A TOML value as JSON would hold it: dates and times become ISO strings."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return value


def _read(path: Path) -> dict[str, Any]:
    """A configuration file (a regular UTF-8 file, size-capped) as TOML."""
    text = userfile.read_text(path, "configuration")
    try:
        doc: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    except ValueError:  # an integer over sys.get_int_max_str_digits() digits
        raise UsageError(f"{path}: not usable TOML: a number is too long") from None
    except RecursionError:
        raise UsageError(f"{path}: not usable TOML: nested too deeply") from None
    return doc


def _allow_entry(raw: dict[str, Any], where: str) -> AllowEntry:
    """A schema-valid allow entry, with its rule and expiry date checked."""
    expires = None
    if "expires" in raw:
        try:
            expires = dt.date.fromisoformat(raw["expires"])
        except ValueError:
            raise UsageError(f"{where}: expires {raw['expires']!r} is not a date") from None
    return AllowEntry(Rule.parse(raw["rule"], what=f"{where}.rule"), raw["reason"].strip(),
                      raw.get("module"), raw.get("subject"), expires)
