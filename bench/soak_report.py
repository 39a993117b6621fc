"""The figures of ``soak.py``: samples of the processes, windows of outcomes, and the tables
printed at the end (Markdown, ready for RELIABILITY.md)."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from soak_load import Outcome

REFUSALS = ("429 share", "429 rate", "503 overloaded")  # always shown; others as they come


@dataclass
class Sample:
    """One look at the service: RSS by process (``parent``, ``worker 1``...) and client
    connections of the primary and the standby (None: it did not answer)."""

    at: float
    rss_mib: dict[str, float]
    connections: tuple[int | None, int | None]


@dataclass
class Window:
    start: float
    end: float
    outcomes: list[Outcome]
    samples: list[Sample]
    serve_cpu_s: float  # of the parent and its workers during the window
    load_cpu_s: float  # of this process during the window

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def accepted_seconds(self) -> list[float]:
        return [o.seconds for o in self.outcomes if o.status in (200, 201)]

    def refusals(self) -> Counter[str]:
        return Counter(o.refusal for o in self.outcomes if o.refusal)

    def errors(self) -> int:
        """Answers that were neither accepted nor refused with 429/503 (0: no answer)."""
        return sum(o.status not in (200, 201, 429, 503) for o in self.outcomes)

    def mean_rss(self) -> dict[str, float]:
        by_process: dict[str, list[float]] = {}
        for sample in self.samples:
            for name, mib in sample.rss_mib.items():
                by_process.setdefault(name, []).append(mib)
        return {name: statistics.fmean(values) for name, values in by_process.items()}

    def most_connections(self, server: int) -> int | None:
        counts = [c for s in self.samples if (c := s.connections[server]) is not None]
        return max(counts) if counts else None


@dataclass
class Labels:
    """Stable names for the serve processes: a worker started again gets the next number, so
    its memory is never compared with the one it replaced."""

    parent: int
    names: dict[int, str] = field(default_factory=dict)

    def of(self, pid: int) -> str:
        if pid == self.parent:
            return "parent"
        if pid not in self.names:
            self.names[pid] = f"worker {len(self.names) + 1}"
        return self.names[pid]


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile by nearest rank (NaN for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def growth(first: float | None, last: float | None) -> str:
    """Relative change from ``first`` to ``last``, signed, as a percentage."""
    if not first or last is None:
        return "n/a"
    return f"{100 * (last - first) / first:+.1f} %"


def window_table(windows: list[Window], processes: list[str]) -> str:
    refusal_kinds = list(REFUSALS) + sorted(
        {kind for w in windows for kind in w.refusals()} - set(REFUSALS)
    )
    head = (
        ["minutes", "accepted/s", "p50 ms", "p99 ms", *refusal_kinds, "other errors"]
        + [f"RSS {name} MiB" for name in processes]
        + ["PG conns primary / standby", "CPU % serve / load generator"]
    )
    rows = []
    for w in windows:
        accepted = w.accepted_seconds()
        refusals = w.refusals()
        rss = w.mean_rss()
        primary, standby = w.most_connections(0), w.most_connections(1)
        rows.append(
            [
                f"{(w.start - windows[0].start) / 60:g}-{(w.end - windows[0].start) / 60:g}",
                f"{len(accepted) / w.seconds:.1f}",
                f"{1000 * percentile(accepted, 0.5):.0f}",
                f"{1000 * percentile(accepted, 0.99):.0f}",
                *(f"{refusals[kind]:,}" for kind in refusal_kinds),
                f"{w.errors()}",
                *(f"{rss[name]:.0f}" if name in rss else "-" for name in processes),
                f"{_or_dash(primary)} / {_or_dash(standby)}",
                f"{100 * w.serve_cpu_s / w.seconds:.0f} / {100 * w.load_cpu_s / w.seconds:.0f}",
            ]
        )
    return markdown(head, rows)


def summary_table(
    windows: list[Window],
    processes: list[str],
    acknowledged: int,
    lost: int,
    other_errors: Counter[str],
    host_load: tuple[float, float],
) -> str:
    outcomes = [o for w in windows for o in w.outcomes]
    rows = []
    for operation in ("recall", "remember", "history", "context"):
        accepted = [o.seconds for o in outcomes if o.operation == operation and o.status < 300]
        asked = sum(o.operation == operation for o in outcomes)
        rows.append(
            [
                f"{operation}: accepted / asked",
                f"{len(accepted):,} / {asked:,}; p50 {1000 * percentile(accepted, 0.5):.0f} ms, "
                f"p99 {1000 * percentile(accepted, 0.99):.0f} ms",
            ]
        )
    rows.append(["acknowledged turns (201) lost", f"**{lost}** of {acknowledged:,}"])
    errors = sum(other_errors.values())
    detail = "; ".join(f"{n}x {text}" for text, n in other_errors.most_common(3))
    rows.append(["errors other than 429/503", f"**{errors}**" + (f" ({detail})" if detail else "")])
    if len(windows) >= 2:
        second, last = windows[1].mean_rss(), windows[-1].mean_rss()
        for name in processes:
            rows.append(
                [
                    f"RSS growth of {name}, window 2 to last",
                    growth(second.get(name), last.get(name)),
                ]
            )
    load_cpu = sum(w.load_cpu_s for w in windows) / sum(w.seconds for w in windows)
    rows.append(["load generator CPU (this process)", f"{100 * load_cpu:.0f} % of one core"])
    # The host may be shared: what else ran shows in the load average, not in these figures.
    rows.append(
        ["host load average (1 min), start / end", f"{host_load[0]:.1f} / {host_load[1]:.1f}"]
    )
    return markdown(["measure", "result"], rows)


def markdown(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)
