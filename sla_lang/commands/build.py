"""`sla build`: compile policies and write a target's files, or check for drift.

The write phase is `sla_lang.output.OutputFolder`: the output folder is replaced as a whole,
after every policy has been built, or not at all.
"""

from __future__ import annotations

import datetime
import json
import os
import unicodedata
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import click

from ..build_cache import (
    Both,
    BuildCache,
    CachedBuild,
    Collecting,
    EntryWriter,
    PolicyBuild,
    PolicyReceiver,
    TargetBuild,
    default_size,
    fonts_digest,
    parse_size,
    typst_version,
)
from ..checks import CheckOptions
from ..compile import Compilation, compile_bytes, compile_path, default_jobs, finalize_diagnostics
from ..diagnostics import Severity
from ..output import DriftCheck, OutputError, OutputFolder
from ..render.terminal import terminal_safe
from ..source import TooLarge, display_path, read_limited
from ..targets import TARGETS, BuildOptions, BuildResult, build_files, load_target
from . import DATE, collect_policy_files, default_paths, has_errors, resolve_config, use_color


def summarise(path: str, target: str, diagnostics) -> None:
    """One line per rule for a target's notes and warnings: what a build can't express is
    never dropped, but dozens of manual steps must not bury the one line that matters."""
    if not diagnostics:
        return
    groups: dict[str, list] = {}
    for d in diagnostics:
        groups.setdefault(d.code, []).append(d)
    warnings = sum(1 for d in diagnostics if d.severity is Severity.WARNING)
    notes = len(diagnostics) - warnings
    counts = ", ".join(part for part in (
        f"{warnings} warning{'s' * (warnings != 1)}" if warnings else "",
        f"{notes} note{'s' * (notes != 1)}" if notes else "") if part)
    click.echo(f"{terminal_safe(path)}: {target}: {counts} (--verbose shows each with its line)", err=True)
    order = sorted(groups.values(), key=lambda g: (g[0].severity.rank, g[0].code))
    for group in order:
        first = group[0]
        text = first.message if len(group) == 1 else f"{first.rule.summary} (×{len(group)})"
        click.echo(f"  {first.severity.value} {first.code} ({first.name}) {terminal_safe(text)}", err=True)


def drift_summary(checks: str, counts: dict[str, int], root: Path, paths) -> str:
    """The closing line of `sla build --check` when generated files differ from the policies."""
    total = sum(counts.values())
    parts = ", ".join(f"{n} {label}" for label, n in counts.items() if n)
    checks = checks.rstrip(".")
    if checks.startswith("All checks passed"):
        checks = "the policies check clean" + checks[len("All checks passed"):]
    sources = " ".join(paths) or "policies/"
    return (f"Drift: {total} generated file{'s' * (total != 1)} under {root.as_posix()} "
            f"{'do' if total != 1 else 'does'} not match the policies ({parts}); {checks}. "
            f"Regenerate with `sla build {sources} -o {root.as_posix()}`.")


# characters a folder name must not have, or not begin with: they are written as %XX
_UNSAFE_IN_FOLDER = set('%\\/:*?"<>|')


def _folder_part(text: str) -> str:
    """One component of a policy's sub-folder: the text with `%`, a leading `.`, control and
    format characters and characters other systems reserve written as %XX (so `..` or
    `.hidden` can never be a folder name, and different texts stay different)."""
    out = []
    for i, ch in enumerate(text):
        if ch in _UNSAFE_IN_FOLDER or (ch == "." and i == 0) or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
        else:
            out.append(ch)
    return "".join(out)


def policy_folders(arguments: tuple[str, ...], files: list[Path]) -> dict[Path, str]:
    """The sub-folder of each policy when several are built: its path relative to the folder
    argument it was found in (`policies/emea/de.sla` from `policies/` → `emea/de`), or, for
    files named one by one, relative to the folder they all share. Raises a usage error when
    two policies would share a folder or one's folder would hold another's."""
    folders = [Path(a) for a in arguments if Path(a).is_dir()]
    named = [f for f in files if not any(f.is_relative_to(d) for d in folders)]
    common = Path(os.path.commonpath([os.path.abspath(f.parent) for f in named])) if named else None
    out: dict[Path, str] = {}
    for f in files:
        base = next((d for d in folders if f.is_relative_to(d)), None)
        relative = f.relative_to(base) if base is not None else Path(os.path.abspath(f)).relative_to(common)
        parts = list(relative.parts)
        last = parts[-1]
        parts[-1] = last[:-4] if last.endswith(".sla") and len(last) > 4 else last
        out[f] = "/".join(_folder_part(p) for p in parts)
    seen: dict[str, Path] = {}
    # compared as a case-insensitive, normalising file system would (macOS, Windows); in
    # sorted order a folder comes before the folders inside it
    keyed = sorted((unicodedata.normalize("NFC", name).casefold(), f) for f, name in out.items())
    for key, f in keyed:
        name = out[f]
        clash = seen.get(key) or next((seen[k] for k in _ancestors(key) if k in seen), None)
        if clash is not None:
            raise click.UsageError(terminal_safe(
                f"{clash.as_posix()} and {f.as_posix()} would be built into the same sub-folder "
                f"({out[clash]!s} and {name}); rename one of them or build them separately"))
        seen[key] = f
    return out


def _ancestors(name: str) -> list[str]:
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def build_policy(path: Path, data: bytes | None, *, config, check_options: CheckOptions, names: list[str],
                 options: BuildOptions, receiver: PolicyReceiver | None = None) -> PolicyBuild | None:
    """Compile one policy and build each target (`data`: the file's bytes, already read),
    handing the compilation, each file as it is made and each target's report to `receiver`;
    without one, everything is collected and returned (what a `--jobs` worker sends back)."""
    collecting = None
    if receiver is None:
        receiver = collecting = Collecting()
    if data is None:
        result = compile_path(path, config=config, options=check_options)
    else:
        result = compile_bytes(data, display_path(path), config=config, options=check_options)
    policy, result.policy = result.policy, None  # the IR is not shown, cached or sent back from a worker
    if policy is None or has_errors(result.diagnostics):
        receiver.compiled(result, False)
        return collecting.build if collecting is not None else None
    receiver.compiled(result, True)
    for name in names:
        built: BuildResult = build_files(load_target(name), policy, options, partial(receiver.file, name))
        receiver.target(TargetBuild(name, built.diagnostics, built.failed))
    return collecting.build if collecting is not None else None


def _settings(names: list[str], options: BuildOptions, today, config) -> str:
    """What, besides a policy's bytes and path and the sla itself, its build depends on."""
    pdf = "agreement" in names and "pdf" in (options.formats or load_target("agreement").DEFAULT_FORMATS)
    return json.dumps({
        "targets": names,
        "formats": list(options.formats),
        "lang": options.lang,
        # review deadlines are judged by this date: a build on another day is another build
        "today": (today or datetime.date.today()).isoformat(),
        "config": repr(config),  # [tool.sla]: selected rules, severities, HubSpot mapping, limits
        "typst": typst_version() if "agreement" in names else "",
        "fonts": fonts_digest() if pdf else "",  # the PDF embeds installed fonts
    }, sort_keys=True)


Play = Callable[[PolicyReceiver], None]


def policy_builds(files: list[Path], *, config, check_options: CheckOptions, names: list[str],
                  options: BuildOptions, cache: BuildCache | None, settings: str,
                  jobs: int | None, keep_closed: tuple[int, ...] = ()) -> Iterator[tuple[Path, Play]]:
    """Each policy's build, in the order of `files`, as a function that hands it to a receiver:
    replayed from the cache where it has the entry, else built — in `jobs` processes (default:
    one per CPU when two or more are to be built), or here while the receiver takes it (one file
    at a time: a large build is never held whole) — and stored in the cache on the way. The
    workers close the descriptors `keep_closed` (the output folder's lock)."""
    keys: list[str | None] = []
    data: list[bytes | None] = []
    entries: list[CachedBuild | None] = []
    for path in files:
        content = key = entry = None
        if cache is not None:
            try:
                content = read_limited(path, config.max_file_size)
            except (OSError, TooLarge):  # reported by the build itself
                content = None
            if content is not None:
                key = cache.key(content, display_path(path), settings)
                entry = cache.open(key)
        keys.append(key)
        data.append(content)
        entries.append(entry)
    kwargs = {"config": config, "check_options": check_options, "names": names, "options": options}
    missing = [i for i, entry in enumerate(entries) if entry is None]
    work = [(files[i], data[i]) for i in missing]
    if jobs is None:
        jobs = default_jobs() if len(work) >= 2 else 1
    jobs = min(jobs, len(work))
    workers = None
    try:
        if jobs > 1 and _single_threaded():
            workers = _Workers.start(partial(_build_one, **kwargs), work, jobs, keep_closed)
        built = workers.results() if workers is not None else None
        for i, path in enumerate(files):
            entry, key = entries[i], keys[i]
            if entry is not None:
                yield path, entry.replay
                entry.close()
                entries[i] = None
            elif built is not None:
                policy_build = next(built)
                if cache is not None and key is not None:
                    cache.store(key, policy_build)
                yield path, policy_build.replay
                del policy_build
            else:
                writer = cache.writer(key) if cache is not None and key is not None else None
                yield path, partial(_build_here, path, data[i], writer, kwargs)
            data[i] = None
    finally:
        if workers is not None:
            workers.stop()
        for entry in entries:
            if entry is not None:
                entry.close()


def _build_here(path: Path, data: bytes | None, writer: EntryWriter | None, kwargs: dict,
                receiver: PolicyReceiver) -> None:
    """Build a policy in this process into `receiver`, and into the cache entry `writer`."""
    try:
        build_policy(path, data, receiver=receiver if writer is None else Both(receiver, writer), **kwargs)
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise
    if writer is not None:
        writer.finish()


class WorkerDied(Exception):
    """A `--jobs` process ended without handing back its policy's build (killed from outside:
    the out-of-memory killer, `kill -9`): nothing of this build may be written."""


class _Workers:
    """The processes of `sla build --jobs`: a `ProcessPoolExecutor` whose workers are forked
    (from a single-threaded process only, see `_single_threaded`). A worker killed from outside
    breaks the pool (`BrokenProcessPool`) instead of leaving the build waiting for ever, and the
    policy it was building is named: each worker writes its pid beside the index of the policy
    it starts into memory shared with the build."""

    def __init__(self, executor, futures, processes, started, work) -> None:
        self.executor = executor
        self.futures = futures
        self.processes = processes  # multiprocessing.Process objects: pid and exit status
        self.started = started
        self.work = work
        self.finished = False

    @classmethod
    def start(cls, one, work, jobs: int, keep_closed: tuple[int, ...]) -> _Workers | None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if "fork" not in multiprocessing.get_all_start_methods():
            return None
        context = multiprocessing.get_context("fork")
        try:
            started = context.RawArray("q", len(work))  # index → pid of the worker that took it
            before = set(multiprocessing.active_children())
            executor = ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_started,
                                           initargs=(keep_closed, os.getpid(), started))
        except OSError:
            return None
        try:
            # with fork every worker is started by the first submit, in this (the only) thread,
            # before the executor starts its own thread
            futures = [executor.submit(one, (i, item)) for i, item in enumerate(work)]
        except OSError:  # no processes allowed here: build in this one
            executor.shutdown(wait=True, cancel_futures=True)
            return None
        processes = [p for p in multiprocessing.active_children() if p not in before]
        return cls(executor, futures, processes, started, work)

    def results(self) -> Iterator[PolicyBuild]:
        from concurrent.futures.process import BrokenProcessPool

        for i, future in enumerate(self.futures):
            try:
                result = future.result()
            except BrokenProcessPool:
                self.executor.shutdown(wait=True, cancel_futures=True)  # every worker is reaped
                raise WorkerDied(self._death(i)) from None
            self.futures[i] = None  # a build handed over is not kept here until the end
            yield result
            del result
        self.finished = True

    def _death(self, waiting: int) -> str:
        """Which policy was being built by the worker that died, and how it ended. The pool
        ends the other workers with SIGTERM once one is gone: a worker that ended otherwise
        is the one that died."""
        import signal

        unfinished = [i for i, f in enumerate(self.futures) if f is not None and f.done() and not f.cancelled()
                      and f.exception() is not None and self.started[i]]
        dead = {p.pid: p.exitcode for p in self.processes if p.exitcode not in (None, -signal.SIGTERM)}
        culprits = [i for i in unfinished if self.started[i] in dead]
        if culprits:
            code = dead[self.started[culprits[0]]]
        else:  # killed with SIGTERM from outside, or before it took a policy
            culprits = unfinished or [waiting]
            code = None
        if code is None:
            how = "it ended abruptly"
        elif code < 0:
            try:
                how = f"it was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"it was killed by signal {-code}"
        else:
            how = f"it exited with status {code}"
        shown = " or ".join(display_path(self.work[i][0]) for i in culprits)
        return (f"the process building {shown} stopped before it finished ({how}: the system's "
                "out-of-memory killer does that when memory runs short); build again, with a smaller "
                "--jobs if memory is short")

    def stop(self) -> None:
        """End the workers (at once unless every policy was built) and wait for them."""
        if not self.finished:
            for process in self.processes:
                if process.exitcode is None:
                    try:
                        process.kill()
                    except OSError:
                        pass
        self.executor.shutdown(wait=True, cancel_futures=True)


_started_policies = None  # in a --jobs worker: the memory shared with the build (see _Workers)


def _worker_started(keep_closed: tuple[int, ...], parent: int, started) -> None:
    """In each worker: let go of the output folder's lock (a worker left over from a killed
    build must not keep the next build out), and die with the build (Linux)."""
    global _started_policies
    _started_policies = started
    for fd in keep_closed:
        try:
            os.close(fd)
        except OSError:
            pass
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: a worker ends when it reads the closed queue
        pass
    if os.getppid() != parent:  # the build died before the line above
        os._exit(1)


def _single_threaded() -> bool:
    """Whether this process runs one thread, so that forking it is safe. A process that has
    typeset a PDF before (tests, a program calling the command) holds Typst's worker threads,
    and a forked child using Typst again would wait for locks no thread will release: such a
    process builds everything itself. `sla build` from the command line is single-threaded."""
    import threading

    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # not Linux: only the threads Python knows of can be counted
        return threading.active_count() == 1


def _build_one(work: tuple[int, tuple[Path, bytes | None]], **kwargs) -> PolicyBuild:
    index, (path, data) = work
    if _started_policies is not None:
        _started_policies[index] = os.getpid()
    return build_policy(path, data, **kwargs)


class _PolicyOutputs(PolicyReceiver):
    """One policy's part of `sla build`: its diagnostics shown as they come, its files handed to
    the output folder (or to `--check`'s comparison) as they are made, so that nothing holds the
    whole output. What went wrong is kept for the command to report once the policy is done."""

    def __init__(self, *, show, config, verbose: bool, prefixed: bool, folder: OutputFolder | None, sub: str,
                 drift_root: Path | None) -> None:
        self.show = show
        self.config = config
        self.verbose = verbose
        self.prefixed = prefixed  # several targets: each in its own sub-folder
        self.folder = folder  # None: nothing is staged (--check, or an earlier policy failed)
        self.base = f"{sub}/" if sub else ""
        self.drift_root = drift_root
        self.drift: DriftCheck | None = None
        self.result: Compilation | None = None
        self.built = False
        self.failed = False  # a target reported errors: its files (and every other) are not written
        self.error: OutputError | None = None  # the first file that could not be staged
        self.count = 0
        self._pending = 0  # files of the target being built

    def compiled(self, compilation: Compilation, compiled: bool) -> None:
        self.result = compilation
        self.built = compiled
        self.show(compilation.diagnostics, compilation.source)
        if compiled and self.drift_root is not None:
            self.drift = DriftCheck(self.drift_root)

    def file(self, target: str, name: str, data: bytes) -> None:
        self._pending += 1
        relative = f"{target}/{name}" if self.prefixed else name
        if self.drift is not None:
            self.drift.add(relative, data)
        elif self.folder is not None and self.error is None and not self.failed:
            try:
                self.folder.add(self.base + relative, data)
            except OutputError as exc:
                self.error = exc

    def target(self, built: TargetBuild) -> None:
        # an error from a target means its output could not be made: that is decided on
        # the raw report; configuration only changes what is shown
        source = self.result.source
        reported = finalize_diagnostics(source, built.diagnostics, self.config)
        self.show([d for d in reported if self.verbose or d.severity is Severity.ERROR], source)
        if not self.verbose:
            summarise(self.result.path, built.name, [d for d in reported if d.severity is not Severity.ERROR])
        if built.failed:
            self.failed = True
        else:
            self.count += self._pending
        self._pending = 0


class CacheSize(click.ParamType):
    name = "size"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        try:
            return parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--target", "-t", "targets", multiple=True, type=click.Choice([*TARGETS, "all"]), default=("all",),
              show_default=True, help="What to build; repeat for several. With several targets (or `all`) each "
              "goes into its own sub-folder of the output folder.")
@click.option("--output", "-o", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--format", "formats", metavar="LIST", help="Comma-separated formats for the agreement target: md,html,pdf.")
@click.option("--lang", type=click.Choice(["en", "ja"]), help="Language of the generated documents (default: the policy's).")
@click.option("--check", "check_only", is_flag=True, help="Write nothing; exit 1 and list the files that are stale, "
              "hand-edited, missing or no longer generated.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Read [tool.sla] from this pyproject.toml.")
@click.option("--isolated", is_flag=True, help="Ignore every configuration file.")
@click.option("--today", type=DATE, help="The date to judge review deadlines by (default: today).")
@click.option("--verbose", "-v", is_flag=True, help="Show every note and warning of the targets in full "
              "(by default they are summarised per rule; errors are always shown in full).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N",
              help="Build policies in N processes (default: one per CPU when two or more policies are not "
              "in the cache).")
@click.option("--no-cache", "no_cache", is_flag=True, help="Build every policy: neither read nor write the build "
              "cache ($SLA_CACHE_DIR, else $XDG_CACHE_HOME/sla-lang, else ~/.cache/sla-lang).")
@click.option("--cache-size", "cache_size", type=CacheSize(), metavar="SIZE",
              help="Keep the build cache under SIZE (such as 500M or 5G; 0: no limit), deleting the least "
              "recently used entries (default: $SLA_CACHE_SIZE, else 5G).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True)
def build(paths, targets, out_dir, formats, lang, check_only, config_path, isolated, today, verbose, jobs, no_cache,
          cache_size, color):
    """Build outputs from policies (files or folders; default: policies/).

    With several policies each goes into a sub-folder named after its path (relative to the
    folder it was found in). The output folder belongs to the build: it is replaced as a
    whole once every policy is built, and left untouched if any policy has errors. Hidden
    files in it (.gitkeep …) are kept; a build refuses to delete files it did not write.
    Outputs are byte-identical for the same input. A policy built before with the same
    bytes, sla, options and configuration is taken from the build cache (see --no-cache).
    """
    from ..render.text import render_diagnostic, summary_line

    config, config_diagnostics = resolve_config(config_path, isolated)
    files, missing = collect_policy_files(default_paths(paths), config)
    if missing:
        raise click.UsageError("no such file or folder: " + ", ".join(terminal_safe(str(m)) for m in missing))
    if not files:
        raise click.UsageError("no .sla files found")
    names = list(TARGETS) if "all" in targets else list(dict.fromkeys(targets))
    options = BuildOptions(formats=tuple(f.strip() for f in formats.split(",") if f.strip()) if formats else (), lang=lang,
                           hubspot=config.hubspot)
    if options.formats and "agreement" in names:
        known = load_target("agreement").FORMATS
        unknown = [f for f in options.formats if f not in known]
        if unknown:
            raise click.BadParameter(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(known)}",
                                     param_hint="--format")
    colored = use_color(color)
    root = Path(out_dir)
    ok = True
    drift_found = False
    drift_counts = {"stale or hand-edited": 0, "missing": 0, "no longer generated": 0}
    results: list[Compilation] = []

    def show(diagnostics, source):
        for d in diagnostics:
            click.echo(render_diagnostic(d, source, color=colored, lang=lang), err=True)

    show(config_diagnostics, None)
    folders = policy_folders(default_paths(paths), files) if len(files) > 1 else {files[0]: ""}
    folder = None
    if not check_only:
        folder = OutputFolder(root)
        try:
            folder.open()  # first: a second build into the same folder stops before compiling
        except OutputError as exc:
            click.echo(f"sla: {terminal_safe(str(exc))}", err=True)
            ctx = click.get_current_context()
            ctx.exit(1)
    written: list[tuple[str, Path, int]] = []
    check_options = CheckOptions(today=today)
    if cache_size is not None:
        size = cache_size
    else:
        try:
            size = default_size()
        except ValueError as exc:
            raise click.UsageError(f"SLA_CACHE_SIZE: {exc}") from None
    cache = None if no_cache else BuildCache(size=size)
    settings = _settings(names, options, today, config) if cache is not None else ""
    builds = policy_builds(files, config=config, check_options=check_options, names=names, options=options,
                           cache=cache, settings=settings, jobs=jobs,
                           keep_closed=(folder.lock_fd,) if folder is not None and folder.lock_fd is not None else ())
    died: list[str] = []

    def until_a_worker_dies(builds):
        try:
            yield from builds
        except WorkerDied as exc:
            died.append(str(exc))

    try:
        for path, play in until_a_worker_dies(builds):
            sub = folders[path]
            policy_root = root / sub if sub else root
            outputs = _PolicyOutputs(show=show, config=config, verbose=verbose, prefixed=len(names) > 1,
                                     folder=folder if ok else None, sub=sub,
                                     drift_root=policy_root if check_only else None)
            play(outputs)
            result = outputs.result
            results.append(result)
            if not outputs.built:
                click.echo(f"{terminal_safe(result.path)}: not built because of the errors above", err=True)
                ok = False
                continue
            if outputs.failed:
                click.echo(f"{terminal_safe(result.path)}: not built: a target reported errors", err=True)
                ok = False
                continue
            if check_only:
                drift = outputs.drift.finish()
                for label, items in (("stale or hand-edited", drift.stale), ("missing", drift.missing),
                                     ("no longer generated", drift.extra)):
                    for item in items:
                        click.echo(f"{terminal_safe((policy_root / item).as_posix())}: {label}")
                    drift_counts[label] += len(items)
                if not drift.clean:
                    drift_found = True
                continue
            if ok:  # once a policy failed nothing is written: its files were not staged
                if outputs.error is not None:
                    click.echo(f"sla: {terminal_safe(str(outputs.error))}", err=True)
                    ok = False
                    continue
                written.append((result.path, policy_root, outputs.count))
        if died:
            click.echo(f"sla: {terminal_safe(died[0])}", err=True)
            ok = False
        if folder is not None:
            if ok:
                try:
                    folder.commit()
                except OutputError as exc:
                    click.echo(f"sla: {terminal_safe(str(exc))}", err=True)
                    ok = False
            else:
                click.echo(f"sla: nothing was written to {terminal_safe(root.as_posix())}: a build replaces the "
                           "whole output folder, and not every policy could be built", err=True)
            if ok:
                for shown, policy_root, count in written:
                    where = terminal_safe(policy_root.as_posix())
                    if folder.unchanged:  # the folder already held exactly this build: left as it was
                        click.echo(f"{terminal_safe(shown)}: {count} file{'s' * (count != 1)} in {where} "
                                   "already up to date")
                    else:
                        click.echo(f"{terminal_safe(shown)}: wrote {count} file{'s' * (count != 1)} to {where}")
    finally:
        if folder is not None:
            folder.close()
        if cache is not None:
            cache.trim()  # (after the hits marked their entries used)
    if results:
        if drift_found:
            # the last line must not read "All checks passed" after a list of stale files
            click.echo(terminal_safe(drift_summary(summary_line(results, lang=lang), drift_counts, root, paths)), err=True)
        else:
            click.echo(summary_line(results, color=colored, lang=lang), err=True)
    if check_only and ok and not drift_found:
        click.echo(f"Generated files under {terminal_safe(root.as_posix())} are up to date.")
    ctx = click.get_current_context()
    ctx.exit(0 if ok and not drift_found else 1)
