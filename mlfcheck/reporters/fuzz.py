"""Renderers for fuzz campaign results: a summary table as text, or json."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlfcheck.fuzz.campaign import CampaignResult
from mlfcheck.fuzz.outcomes import Bucket
from mlfcheck.reporters import present

DETAIL_LINES = 4
"""Lines of each counterexample's detail shown (the end: where a traceback says what)."""


def _header(r: CampaignResult) -> list[str]:
    extra = " with --verify" if r.verify else ""
    budget = " (stopped by --time-budget)" if r.stopped_by_budget else ""
    tvm = f", TVM {r.tvm_version}" if r.tvm_version else ""
    shard = (f", shard{'s' if len(r.shards) > 1 else ''} "
             f"{'+'.join(map(str, r.shards))} of {r.shard_count}") if r.shard_count > 1 else ""
    return [f"mlfcheck fuzz: {r.target}{extra}, seed {r.seed}{tvm}{shard}",
            f"ran {r.ran} of {r.requested} examples in {r.seconds:.1f} s "
            f"({r.per_minute:.1f}/min){budget}; shrinking took {r.shrink_seconds:.1f} s"]


def text(r: CampaignResult) -> str:
    """The outcome table, then one block per distinct counterexample."""
    lines = [*_header(r), ""]
    rows = [(b.value, r.counts.get(b, 0), sum(c.bucket is b for c in r.counterexamples))
            for b in Bucket if r.counts.get(b, 0)]
    width = max([len("outcome"), *(len(name) for name, _, _ in rows)])
    lines.append(f"{'outcome':<{width}}  {'examples':>8}  {'distinct':>8}")
    lines += [f"{name:<{width}}  {count:>8}  {distinct if name != 'ok' else '':>8}"
              for name, count, distinct in rows]
    if r.distribution:
        lines += ["", "generated (models per value):"]
        lines += [f"  {table}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
                  for table, counts in r.distribution.items()]
    for c in r.counterexamples:
        lines += ["", f"[{c.bucket.value}] {c.signature}",
                  f"  hit by {c.count} example(s), first #{c.example}; {c.bucket.meaning}",
                  f"  shrunk: {c.shrunk}"]
        lines += [f"  {line}" for line in c.detail.strip().splitlines()[-DETAIL_LINES:]]
        if c.reproducer is not None:
            lines.append(f"  reproducer: {c.reproducer}")
    lines.append("")
    lines.append(f"{len(r.counterexamples)} distinct counterexample(s)" if r.found
                 else "no counterexample found")
    return present.text_lines(lines)


def json_report(r: CampaignResult) -> str:
    """The same content as JSON (schemas/fuzz-report.schema.json)."""
    body: dict[str, Any] = {
        "target": r.target, "seed": r.seed, "verify": r.verify, "tvm_version": r.tvm_version,
        "requested": r.requested, "ran": r.ran, "seconds": round(r.seconds, 3),
        "per_minute": round(r.per_minute, 2), "shrink_seconds": round(r.shrink_seconds, 3),
        "stopped_by_budget": r.stopped_by_budget,
        "distribution": r.distribution,
        "shards": list(r.shards), "shard_count": r.shard_count,
        "counts": {b.value: r.counts[b] for b in Bucket if b in r.counts},
        "counterexamples": [
            {"bucket": c.bucket.value, "signature": c.signature, "count": c.count,
             "example": c.example, "shrunk": c.shrunk, "detail": c.detail,
             "reproducer": str(c.reproducer) if c.reproducer is not None else None}
            for c in r.counterexamples],
    }
    return present.json_report("fuzz", body)


RENDERERS: dict[str, Callable[[CampaignResult], str]] = {"text": text, "json": json_report}
