"""The front-end pipeline: bytes → SourceFile → parse tree → IR → checked IR.

Each stage returns its result and its diagnostics; nothing here raises for bad input and
nothing picks an exit code (that is the CLI's job). An unexpected exception anywhere becomes
an SLA999 diagnostic, never a traceback.
"""

from __future__ import annotations

import gc
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from .checks import CheckOptions, run_checks
from .config import Config, apply_suppressions
from .diagnostics import INTERNAL_ERROR, Diagnostic, Severity, sort_diagnostics, Message
from .ir import Policy
from .source import SourceFile, Span, decode_source, read_source


@dataclass
class Compilation:
    path: str
    source: SourceFile | None = None
    policy: Policy | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    stats: dict[str, object] = field(default_factory=dict)

    @property
    def language(self) -> str:
        """The language to report this file's diagnostics in when none is asked for: the
        policy's `language`, else the locale's."""
        from .message import choose_language

        return choose_language(None, self.source.text if self.source is not None else None)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def ok(self) -> bool:
        return self.policy is not None and not self.errors


def compile_path(
    path: Path,
    *,
    shown_as: str | None = None,
    config: Config | None = None,
    options: CheckOptions | None = None,
    strict: bool = False,
    checks: bool = True,
) -> Compilation:
    config = config or Config()
    source, diagnostics = read_source(path, shown_as=shown_as, max_bytes=config.max_file_size)
    name = shown_as or (source.path if source else str(path))
    if source is None:
        return Compilation(name, diagnostics=_finish(None, diagnostics, config, strict))
    return _compile(source, diagnostics, config, options, strict, checks)


PARALLEL_MIN_FILES = 8  # by default, fewer files are checked in this process: starting workers costs more


def default_jobs() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def compile_paths(
    paths: list[Path],
    *,
    config: Config | None = None,
    options: CheckOptions | None = None,
    strict: bool = False,
    jobs: int | None = None,
    keep_policy: bool = True,
) -> Iterator[Compilation]:
    """compile_path over many files, in their order, in `jobs` processes (default: one per CPU
    from PARALLEL_MIN_FILES files on) where the platform can fork. The IR is kept only with
    `keep_policy` (sending it back from a worker costs more than checking it)."""
    if jobs is None:
        jobs = default_jobs() if len(paths) >= PARALLEL_MIN_FILES else 1
    jobs = min(jobs, len(paths))
    one = partial(_compile_one, config=config, options=options, strict=strict, keep_policy=keep_policy)
    pool = None
    if jobs > 1:
        import multiprocessing

        if "fork" in multiprocessing.get_all_start_methods():
            try:
                pool = multiprocessing.get_context("fork").Pool(jobs)
            except OSError:  # no processes allowed here: do the work in this one
                pool = None
    if pool is None:
        yield from map(one, paths)
        return
    with pool:
        yield from pool.imap(one, paths, chunksize=max(1, len(paths) // (jobs * 8)))


def _compile_one(path: Path, *, config: Config | None, options: CheckOptions | None, strict: bool,
                 keep_policy: bool) -> Compilation:
    result = compile_path(path, config=config, options=options, strict=strict)
    if not keep_policy:
        result.policy = None
    return result


def compile_bytes(
    data: bytes,
    path: str,
    *,
    config: Config | None = None,
    options: CheckOptions | None = None,
    strict: bool = False,
    checks: bool = True,
) -> Compilation:
    config = config or Config()
    source, diagnostics = decode_source(path, data, max_bytes=config.max_file_size)
    if source is None:
        return Compilation(path, diagnostics=_finish(None, diagnostics, config, strict))
    return _compile(source, diagnostics, config, options, strict, checks)


def compile_text(text: str, path: str = "<memory>.sla", **kwargs) -> Compilation:
    return compile_bytes(text.encode("utf-8"), path, **kwargs)


@contextmanager
def _cyclic_gc_paused():
    """Parsing and lowering allocate many long-lived, acyclic objects; the cyclic collector
    would walk the growing heap again and again (measured: 16,000-term conditions took 1.9 s
    instead of 1.0 s, and time grew faster than the input). Reference counting still frees
    everything; collection resumes when the policy is compiled."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _compile(
    source: SourceFile,
    diagnostics: list[Diagnostic],
    config: Config,
    options: CheckOptions | None,
    strict: bool,
    checks: bool,
) -> Compilation:
    result = Compilation(source.path, source=source)
    with _cyclic_gc_paused():
        return _compile_with(result, source, diagnostics, config, options, strict, checks)


def _compile_with(result, source, diagnostics, config, options, strict, checks) -> Compilation:
    try:
        from .lower import limits_before_parsing, parse_and_lower

        over = limits_before_parsing(source)
        if over:
            result.diagnostics = _finish(source, diagnostics + over, config, strict)
            return result
        syntax, policy, lowering = parse_and_lower(source)
        diagnostics = diagnostics + syntax
        if policy is not None:
            result.policy = policy
            diagnostics += lowering
            # a policy over the size limits is not checked: the limits exist to bound that work
            if checks and any(d.code == "SLA010" for d in lowering):
                checks = False
            if checks:
                diagnostics += run_checks(policy, options, config.is_selected, result.stats)
    except Exception as exc:  # the last line of defence: report, never crash
        if os.environ.get("SLA_DEBUG"):
            traceback.print_exc()
        result.policy = None
        diagnostics.append(
            Diagnostic(
                INTERNAL_ERROR,
                Message('internal error: {exc}: {exc2}', exc=type(exc).__name__, exc2=exc),
                Span.point(source.path),
                help=Message('please report this with the policy; set SLA_DEBUG=1 for the traceback'),
            )
        )
    result.diagnostics = _finish(source, diagnostics, config, strict, checked=checks and result.policy is not None)
    return result


def finalize_diagnostics(
    source: SourceFile | None, diagnostics: list[Diagnostic], config: Config, strict: bool = False,
    *, checked: bool = False
) -> list[Diagnostic]:
    """Apply the configuration to raw diagnostics: selection, suppressions, severities, order.

    Used for the front end's diagnostics and for what build targets report about a policy.
    `checked` says the checks ran, so a suppression that silences nothing can be reported.
    """
    return _finish(source, diagnostics, config, strict, checked)


def _finish(
    source: SourceFile | None, diagnostics: list[Diagnostic], config: Config, strict: bool, checked: bool = False
) -> list[Diagnostic]:
    kept = [d for d in diagnostics if config.is_selected(d.code)]
    if source is not None:
        kept = apply_suppressions(source, kept, config.is_selected, report_unused=checked)
    out = []
    for d in kept:
        severity = config.severity_of(d)
        if strict and severity is Severity.WARNING:
            severity = Severity.ERROR
        out.append(d if severity is d.severity else d.with_severity(severity))
    return sort_diagnostics(out)
