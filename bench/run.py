"""The benchmark suite of issue 8: sla-lang on synthetic policies of 10 … 10,000 stages, the
budgets, and the YAML + jsonschema comparison. Writes bench/RESULTS.md.

    python bench/run.py                      # everything, 5 runs per figure (≈ 30 min)
    python bench/run.py --sizes 10,100 --no-write --json -    # a quick look, JSON on stdout
    python bench/run.py --runs 7 --limit 300 # more runs; allow 300 s for one run of anything
    python bench/run.py --targets            # issue 20's budgets: bench/target_budgets.py

What it measures (medians; each figure's runs are listed in the JSON):

- per size (bench/generate.py policies, chain shape, scoring rules and KPIs scaled alongside):
  parse, lower and checks — in a worker process, after one untimed warm-up compilation, with
  the cyclic GC paused as `compile.py` does — then each target's `build()` (ir, hubspot,
  agreement md / html / pdf, fixtures) in a fresh worker each, with the GC on as in `sla
  build`; and the cold CLI, `python -m sla_lang check FILE`, a new interpreter per run;
- the scaling exponent between consecutive sizes, log(t2/t1) / log(n2/n1);
- the budgets: cold `sla check` of the largest example policy against `python -c "import
  lark, networkx, click"` (runs interleaved), 200 example-sized policies in one `sla check
  DIR`, a 1,000-stage policy checked from the command line, near-linear scaling;
- the same example policy as YAML (bench/yaml/) loaded with PyYAML and validated with
  jsonschema (bench/yaml_check.py), cold and warm, and what each approach reports for the
  same mistakes.

A run of anything that takes longer than --limit seconds is stopped and reported as "not run"
with the reason, and so is that stage at larger sizes; workers get at most --memory GiB of
address space. Before timing, the script byte-compiles sla_lang (`python -m compileall`), as
scripts/install.sh does: with PYTHONDONTWRITEBYTECODE set and no .pyc files, every start would
recompile every module.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import resource
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
EXAMPLES = sorted((ROOT / "policies").glob("*.sla"))
LARGEST_EXAMPLE = ROOT / "policies" / "inside_sales_sal.sla"
YAML_POLICY = BENCH / "yaml" / "inside_sales_sal.yaml"
YAML_SCHEMA = BENCH / "yaml" / "sla-policy.schema.json"
TODAY = "2026-11-23"  # fixed, so review-deadline warnings do not change with the date
SIZES = (10, 100, 1000, 10000)
FRONT = ("parse", "lower", "checks")
TARGETS = {  # stage name → (target, formats)
    "ir": ("ir", ()),
    "hubspot": ("hubspot", ()),
    "agreement md": ("agreement", ("md",)),
    "agreement html": ("agreement", ("html",)),
    "agreement pdf": ("agreement", ("pdf",)),
    "fixtures": ("fixtures", ()),
}
BASELINE_IMPORTS = "import lark, networkx, click"
LIBRARIES = ("lark", "networkx", "click", "jinja2", "jsonschema", "PyYAML", "typst", "pyHanko", "holidays",
             "check-jsonschema")


# ------------------------------------------------------------------ worker (a child process)


def worker(spec: dict) -> None:
    """Time one stage on one policy; print a JSON line per run (the parent enforces limits)."""
    limit = int(spec["memory"] * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    root = Path(spec.get("root", ROOT))
    sys.path.insert(0, str(root))
    from sla_lang.checks import CheckOptions, run_checks
    from sla_lang.compile import _cyclic_gc_paused, compile_path
    from sla_lang.config import Config
    from sla_lang.diagnostics import Severity

    assert Path(sys.modules["sla_lang"].__file__).is_relative_to(root), "sla_lang imported from elsewhere"
    config = Config(max_file_size=1 << 30)
    options = CheckOptions(today=date.fromisoformat(TODAY))
    path = Path(spec["policy"])
    warm = compile_path(path, config=config, options=options)  # imports, grammar, first-run work
    errors = [d for d in warm.diagnostics if d.severity is Severity.ERROR]
    if warm.policy is None or errors:
        emit({"error": f"{len(errors)} errors in the policy, first: {errors[0].message if errors else '?'}"})
        return
    emit({"ready": True, "diagnostics": len(warm.diagnostics)})
    if spec["stage"] == "front":
        from sla_lang.lower import lower_policy
        from sla_lang.parser import parse_source

        source = warm.source
        for _ in range(spec["runs"]):
            gc.collect()
            with _cyclic_gc_paused():
                t0 = time.perf_counter()
                parsed = parse_source(source)
                t1 = time.perf_counter()
                policy, _ = lower_policy(parsed.tree, source)
                t2 = time.perf_counter()
                run_checks(policy, options, config.is_selected, {})
                t3 = time.perf_counter()
            del parsed, policy
            emit({"parse": t1 - t0, "lower": t2 - t1, "checks": t3 - t2})
        return
    from sla_lang.targets import BuildOptions, load_target

    name, formats = TARGETS[spec["stage"]]
    target = load_target(name)
    build_options = BuildOptions(formats=tuple(formats))
    for _ in range(spec["runs"]):
        gc.collect()
        t0 = time.perf_counter()
        built = target.build(warm.policy, build_options)
        seconds = time.perf_counter() - t0
        failed = [d for d in built.diagnostics if d.severity is Severity.ERROR]
        if failed:
            emit({"error": f"{failed[0].code}: {failed[0].message}"})
            return
        emit({"seconds": seconds, "bytes": sum(len(b) for b in built.files.values()), "files": len(built.files)})
        del built


def emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


class NotRun(Exception):
    """A stage that could not be measured; the message says why."""


def run_worker(spec: dict, limit: float, setup_limit: float) -> list[dict]:
    """Start a worker and collect its records; stop it when one run exceeds `limit` seconds."""
    args = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    child = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    records: list[dict] = []
    selector = selectors.DefaultSelector()
    selector.register(child.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + setup_limit
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(timeout=remaining):
                what = "compiling the policy" if not records else "one run"
                raise NotRun(f"{what} took more than {setup_limit if not records else limit:.0f} s (stopped)")
            line = child.stdout.readline()
            if not line:
                child.wait()
                err = child.stderr.read().strip().splitlines()
                reason = err[-1] if err else f"worker exited with {child.returncode}"
                if "MemoryError" in reason:
                    reason = f"ran out of the {spec['memory']:g} GiB memory limit (MemoryError)"
                raise NotRun(reason)
            record = json.loads(line)
            if "error" in record:
                raise NotRun(record["error"])
            if "ready" in record:
                records.append(record)
                deadline = time.monotonic() + limit
                continue
            records.append(record)
            deadline = time.monotonic() + limit
            if len(records) == spec["runs"] + 1:
                child.wait()
                return records[1:]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        selector.close()


# ------------------------------------------------------------------ processes timed from outside


def timed(args: list[str], cwd: Path = ROOT, ok: tuple[int, ...] = (0,)) -> float:
    """Wall seconds of one child process (start-up included)."""
    start = time.perf_counter()
    child = subprocess.run(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if child.returncode not in ok:
        raise SystemExit(f"{' '.join(map(str, args))} exited with {child.returncode}:\n{child.stderr.decode()[-2000:]}")
    return elapsed


def interleaved(commands: dict[str, tuple], rounds: int) -> dict[str, list[float]]:
    """Run every command once per round, rotating the order each round. A command is
    (args, accepted exit codes) or (args, accepted exit codes, working directory)."""
    names = list(commands)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            args, ok, *cwd = commands[name]
            times[name].append(timed(args, cwd=cwd[0] if cwd else ROOT, ok=ok))
    return times


def sla(*args: str) -> list[str]:
    return [sys.executable, "-m", "sla_lang", *args]


# ------------------------------------------------------------------ statistics and text


def median(values: list[float]) -> float:
    return statistics.median(values)


def exponent(t1: float, t2: float, n1: int, n2: int) -> float | None:
    if t1 <= 0 or t2 <= 0:
        return None
    return math.log(t2 / t1) / math.log(n2 / n1)


def seconds(value: float) -> str:
    if value < 0.001:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1000:.1f} ms" if value < 0.1 else f"{value * 1000:.0f} ms"
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


# ------------------------------------------------------------------ machine


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    try:
        release = dict(
            line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line
        )
        system = f"{release.get('PRETTY_NAME', '').strip(chr(34))}, {system}"
    except OSError:
        pass
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "sla_lang", "bench", "grammar", "targets"],
                           cwd=ROOT, capture_output=True, text=True).stdout.strip()
    probe = ("from sla_lang import _compiled as c; "
             "m = c.MODULES + c.NATIVE; print(0 if c.pure_python() else sum(1 for n in m if c.current_compiled_path(n)), len(m))")
    compiled = subprocess.run([sys.executable, "-c", probe], check=False, cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split()
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        # sla_lang's modules loaded compiled (python -m sla_lang.accelerate), of those that can be
        "compiled_modules": [int(n) for n in compiled] if len(compiled) == 2 else None,
        "ram_bytes": ram,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": system,
        "libraries": versions,
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "load_average_at_start": os.getloadavg(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# ------------------------------------------------------------------ the inputs


def write_inputs(work: Path, sizes: tuple[int, ...]) -> dict:
    sys.path.insert(0, str(BENCH))
    from generate import generate_policy

    # a 10,000-stage policy is 4.4 MB, over the default 4 MiB file-size limit
    (work / "pyproject.toml").write_text("[tool.sla]\nmax-file-size = 67108864\n", encoding="utf-8")
    policies = {}
    for n in sizes:
        text = generate_policy(n)
        path = work / f"generated_{n}.sla"
        path.write_text(text, encoding="utf-8")
        policies[n] = path
    many = work / "many"
    many.mkdir()
    for i in range(200):
        example = EXAMPLES[i % len(EXAMPLES)]
        text = example.read_text(encoding="utf-8")
        start = text.index('agreement "') + len('agreement "')
        text = f"# variant {i} of {example.name}\n" + text[:start] + f"Variant {i}: " + text[start:]
        (many / f"{i:03d}_{example.name}").write_text(text, encoding="utf-8")
    return {"policies": policies, "many": many, "config": work / "pyproject.toml"}


def describe_policy(path: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from sla_lang.compile import compile_path
    from sla_lang.config import Config

    assert Path(sys.modules["sla_lang"].__file__).is_relative_to(ROOT), "sla_lang imported from elsewhere"
    result = compile_path(path, config=Config(max_file_size=1 << 30), checks=False)
    policy = result.policy
    data = path.read_bytes()
    return {
        "lines": data.count(b"\n"),
        "bytes": len(data),
        "stages": len(policy.stages),
        "transitions": len(policy.transitions()),
        "score_rules": sum(len(g.rules) for s in policy.scores for g in s.groups),
        "kpis": len(policy.kpis),
    }


# ------------------------------------------------------------------ the YAML comparison


MUTATIONS = [
    # (what, .sla old, .sla new, .yaml old, .yaml new)
    ("misspelt key / keyword", "  owner marketing\n  entry", "  ownr marketing\n  entry",
     "    owner: marketing\n    entry: true", "    ownr: marketing\n    entry: true"),
    ("malformed duration", "respond within 24h via call target 12h", "respond within 24 hours via call target 12h",
     "respond: {within: 24h, target: 12h}", "respond: {within: 24 hours, target: 12h}"),
    ("transition to an undefined stage", "  -> sal \"Accepted", "  -> sales_accepted \"Accepted",
     "      - {to: sal, label: Accepted", "      - {to: sales_accepted, label: Accepted"),
    ("owner that is no team", "stage sal \"Sales accepted lead (SAL)\" {\n  owner inside_sales",
     "stage sal \"Sales accepted lead (SAL)\" {\n  owner insidesales",
     "    label: Sales accepted lead (SAL)\n    owner: inside_sales", "    label: Sales accepted lead (SAL)\n    owner: insidesales"),
    ("condition reads an undeclared property", "when buying_intent == \"yes\"", "when buying_itent == \"yes\"",
     "when: buying_intent == \"yes\"", "when: buying_itent == \"yes\""),
    ("score threshold above the maximum (125)", "  -> mql \"Score of 100 and a pricing or case-study visit\" when lead_score >= 100",
     "  -> mql \"Score of 100 and a pricing or case-study visit\" when lead_score >= 200",
     "        when: lead_score >= 100 and (pricing_page_view or case_study_view)\n      - {to: archived, label: Not qualified within 180",
     "        when: lead_score >= 200 and (pricing_page_view or case_study_view)\n      - {to: archived, label: Not qualified within 180"),
    ("internal target looser than the SLA", "respond within 24h via call target 12h",
     "respond within 24h via call target 36h",
     "respond: {within: 24h, target: 12h}", "respond: {within: 24h, target: 36h}"),
    ("transition into `sql` deleted (SQL unreachable)", "  -> sql \"Buying intent confirmed on the call\" when buying_intent == \"yes\"\n", "",
     "      - {to: sql, label: Buying intent confirmed on the call, when: buying_intent == \"yes\"}\n", ""),
    ("two transitions true for the same lead", "when buying_intent in [\"not_now\", \"no\"] and not meeting_held",
     "when buying_intent in [\"not_now\", \"no\"]",
     "when: buying_intent in [\"not_now\", \"no\"] and not meeting_held", "when: buying_intent in [\"not_now\", \"no\"]"),
]


def yaml_comparison(rounds: int, runs: int) -> dict:
    import jsonschema
    import yaml

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(BENCH))
    import yaml_check

    from sla_lang.checks import CheckOptions
    from sla_lang.compile import compile_path, compile_text
    from sla_lang.diagnostics import Severity

    schema = json.loads(YAML_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    data = yaml.safe_load(YAML_POLICY.read_text(encoding="utf-8"))
    assert yaml_check.errors(schema, str(YAML_POLICY)) == [], "the YAML form must validate"
    options = CheckOptions(today=date.fromisoformat(TODAY))
    policy = compile_path(LARGEST_EXAMPLE, options=options).policy

    # the YAML form holds the same agreement: count what both declare
    def count_yaml() -> dict:
        stages = data["stages"].values()
        return {
            "stages": len(data["stages"]),
            "transitions": sum(len(s.get("transitions", [])) for s in stages),
            "parties and teams": len(data["parties"]) + len(data.get("teams", {})),
            "properties": len(data["properties"]),
            "events": len(data["events"]),
            "score rules": sum(len(g["rules"]) for s in data["scores"].values() for g in s["groups"].values()),
            "priorities": len(data["priorities"]),
            "deadlines (respond/decide)": sum(("respond" in s) + ("decide" in s) for s in stages),
            "escalations": sum(len(s.get("escalations", [])) for s in stages),
            "KPIs": len(data["kpis"]),
            "information items": sum(len(i["items"]) for i in data["information"]),
            "responsibilities": len(data["responsibilities"]),
            "reviews": len(data["reviews"]),
            "cancellation conditions": len(data["cancellation"]),
        }

    def count_ir() -> dict:
        return {
            "stages": len(policy.stages),
            "transitions": len(policy.transitions()),
            "parties and teams": len(policy.teams),
            "properties": len(policy.properties),
            "events": len(policy.events),
            "score rules": sum(len(g.rules) for s in policy.scores for g in s.groups),
            "priorities": len(policy.priorities),
            "deadlines (respond/decide)": sum(len(s.deadlines) for s in policy.stages),
            "escalations": sum(len(s.escalations) for s in policy.stages),
            "KPIs": len(policy.kpis),
            "information items": sum(len(i.items) for i in policy.information),
            "responsibilities": len(policy.responsibilities),
            "reviews": len(policy.reviews),
            "cancellation conditions": len(policy.cancellations),
        }

    counts = {"yaml": count_yaml(), "sla": count_ir()}

    # warm, in one process: what each costs once everything is imported
    loader = yaml_check.Loader
    validator = jsonschema.Draft202012Validator(schema)
    text = YAML_POLICY.read_text(encoding="utf-8")
    warm_yaml, warm_yaml_pure, warm_sla = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        errors = list(validator.iter_errors(yaml.load(text, Loader=loader)))
        t1 = time.perf_counter()
        list(validator.iter_errors(yaml.load(text, Loader=yaml.SafeLoader)))
        t2 = time.perf_counter()
        result = compile_path(LARGEST_EXAMPLE, options=options)
        t3 = time.perf_counter()
        assert not errors and result.ok
        warm_yaml.append(t1 - t0)
        warm_yaml_pure.append(t2 - t1)
        warm_sla.append(t3 - t2)

    # what each reports for the same mistakes
    sla_text = LARGEST_EXAMPLE.read_text(encoding="utf-8")
    findings = []
    for what, old, new, yold, ynew in MUTATIONS:
        assert sla_text.count(old) >= 1 and text.count(yold) >= 1, what
        mutated = compile_text(sla_text.replace(old, new, 1), "policy.sla", options=options)
        codes = sorted({d.code for d in mutated.diagnostics if d.severity is not Severity.INFO})
        ydata = yaml.load(text.replace(yold, ynew, 1), Loader=loader)
        yerrors = list(validator.iter_errors(ydata))
        findings.append({
            "mistake": what,
            "sla": codes,
            "sla_errors": sum(d.severity is Severity.ERROR for d in mutated.diagnostics),
            "jsonschema": [e.message[:90] for e in yerrors[:1]],
            "jsonschema_errors": len(yerrors),
        })

    return {
        "counts": counts,
        "warm": {"yaml_c_loader": warm_yaml, "yaml_pure_python_loader": warm_yaml_pure, "sla": warm_sla},
        "findings": findings,
        "yaml_lines": text.count("\n"),
        "sla_lines": sla_text.count("\n"),
    }


# ------------------------------------------------------------------ before and after


def baseline_tree(rev: str, work: Path) -> Path:
    """sla_lang, grammar/ and targets/ as of `rev`, byte-compiled, in a folder of its own."""
    base = work / "baseline"
    base.mkdir()
    archive = subprocess.run(["git", "archive", rev, "sla_lang", "grammar", "targets"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "sla_lang"], cwd=base, check=True)
    return base


def compare(args, inputs: dict, work: Path) -> dict:
    """The same measurements on the baseline revision and on this tree, interleaved."""
    base = baseline_tree(args.baseline, work)
    trees = {"before": base, "after": ROOT}
    rows = []

    def cli(what: str, target: Path, rounds: int, ok=(0, 1)) -> None:
        log(f"before/after: {what} …")
        commands = {name: (sla("check", "--isolated", "--today", TODAY, str(target)), ok, tree)
                    for name, tree in trees.items()}
        times = interleaved(commands, rounds)
        rows.append({"what": what, **times})

    cli(f"cold `sla check {LARGEST_EXAMPLE.name}`", LARGEST_EXAMPLE, args.cold_runs)
    cli("200 example-sized policies, one `sla check DIR`", inputs["many"], args.runs)
    if 1000 in inputs["policies"]:
        policy = inputs["policies"][1000]
        cli("1,000-stage policy, cold `sla check FILE`", policy, args.runs)
        for stage in ("agreement md", "hubspot"):
            log(f"before/after: {stage}, 1,000 stages …")
            times: dict[str, list[float]] = {"before": [], "after": []}
            for _ in range(args.runs):
                for name, tree in trees.items():
                    spec = {"stage": stage, "policy": str(policy), "runs": 1, "memory": args.memory, "root": str(tree)}
                    try:
                        times[name] += [r["seconds"] for r in run_worker(spec, args.limit, args.setup_limit)]
                    except NotRun as exc:
                        log(f"  {name}: not run: {exc}")
            if times["before"] and times["after"]:
                rows.append({"what": f"{stage} build, 1,000 stages", **times})
    return {"revision": args.baseline, "rows": rows}


# ------------------------------------------------------------------ the run


def measure(args) -> dict:
    sizes = tuple(args.sizes)
    out: dict = {"machine": machine(), "runs": args.runs, "cold_runs": args.cold_runs, "limit_seconds": args.limit,
                 "memory_gib": args.memory, "sizes": list(sizes)}
    log(f"machine: {out['machine']['cpu']}, {out['machine']['cpus']} CPUs, {out['machine']['python']}")
    subprocess.run([sys.executable, "-m", "compileall", "-q", "sla_lang"], cwd=ROOT, check=True)
    work = Path(tempfile.mkdtemp(prefix="sla-bench-"))
    try:
        inputs = write_inputs(work, sizes)
        config = str(inputs["config"])
        # one untimed start fills Lark's grammar cache (as any earlier run of sla would have)
        timed(sla("check", "--today", TODAY, str(LARGEST_EXAMPLE)), ok=(0, 1))
        out["policies"] = {n: describe_policy(p) for n, p in inputs["policies"].items()}

        # ---------------------------------------------------------- per size, in-process stages
        stages: dict[str, dict] = {}
        skipped: dict[str, str] = {}
        for n in sizes:
            policy = str(inputs["policies"][n])
            for stage in ("front", *TARGETS):
                if stage in args.skip:
                    stages.setdefault(stage, {})[n] = {"not_run": "skipped with --skip"}
                    continue
                if stage in skipped:
                    stages.setdefault(stage, {})[n] = {"not_run": skipped[stage]}
                    continue
                log(f"{n} stages: {stage} …")
                spec = {"stage": stage, "policy": policy, "runs": args.runs, "memory": args.memory}
                try:
                    records = run_worker(spec, args.limit, args.setup_limit)
                except NotRun as exc:
                    reason = str(exc)
                    stages.setdefault(stage, {})[n] = {"not_run": reason}
                    skipped[stage] = f"not run at {n:,} stages: {reason}"
                    log(f"  not run: {reason}")
                    continue
                if stage == "front":
                    for phase in FRONT:
                        stages.setdefault(phase, {})[n] = {"runs": [r[phase] for r in records]}
                    stages.setdefault("check (parse + lower + checks)", {})[n] = {
                        "runs": [sum(r[p] for p in FRONT) for r in records]}
                else:
                    stages.setdefault(stage, {})[n] = {"runs": [r["seconds"] for r in records],
                                                       "bytes": records[0]["bytes"], "files": records[0]["files"]}
                log("  " + ", ".join(f"{k}: {seconds(median(v[n]['runs']))}" for k, v in stages.items()
                                     if n in v and "runs" in v[n] and (k == stage or stage == "front" and k in FRONT)))
            log(f"{n} stages: cold `sla check` …")
            cold = [timed(sla("check", "--config", config, "--today", TODAY, policy), ok=(0,)) for _ in range(args.runs)]
            stages.setdefault("CLI: cold `sla check FILE`", {})[n] = {"runs": cold}
        stages.pop("front", None)
        out["stages"] = stages

        # ---------------------------------------------------------- budgets
        log("cold start: sla check of the largest example vs the imports, interleaved …")
        yaml_cli = [sys.executable, str(BENCH / "yaml_check.py"), str(YAML_SCHEMA), str(YAML_POLICY)]
        commands = {
            "python -c pass": ([sys.executable, "-c", "pass"], (0,)),
            f'python -c "{BASELINE_IMPORTS}"': ([sys.executable, "-c", BASELINE_IMPORTS], (0,)),
            'python -c "import lark, click"': ([sys.executable, "-c", "import lark, click"], (0,)),
            f"sla check {LARGEST_EXAMPLE.relative_to(ROOT)}": (sla("check", "--today", TODAY, str(LARGEST_EXAMPLE)), (0,)),
            "yaml_check.py (PyYAML + jsonschema)": (yaml_cli, (0,)),
        }
        if shutil.which("check-jsonschema"):
            commands["check-jsonschema CLI"] = (
                ["check-jsonschema", "--schemafile", str(YAML_SCHEMA), str(YAML_POLICY)], (0,))
        out["cold"] = interleaved(commands, args.cold_runs)
        log("200 example-sized policies in one `sla check DIR` …")
        out["many"] = [timed(sla("check", "--config", config, "--today", TODAY, str(inputs["many"])), ok=(0, 1))
                       for _ in range(args.runs)]
        many_policies = sorted(inputs["many"].glob("*.sla"))
        out["many_count"] = len(many_policies)
        out["many_lines"] = sum(p.read_text(encoding="utf-8").count("\n") for p in many_policies)

        log("YAML + jsonschema comparison …")
        out["yaml"] = yaml_comparison(args.cold_runs, max(args.runs, 11))
        if args.baseline:
            out["baseline"] = compare(args, inputs, work)
        out["machine"]["load_average_at_end"] = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def budgets(data: dict) -> list[dict]:
    cold = data["cold"]
    rows = []
    check_key = f"sla check {LARGEST_EXAMPLE.relative_to(ROOT)}"
    base_key = f'python -c "{BASELINE_IMPORTS}"'
    if check_key in cold and base_key in cold:
        ratio = median(cold[check_key]) / median(cold[base_key])
        rows.append({
            "budget": f"cold `sla check {LARGEST_EXAMPLE.name}` ≤ 1.3 × `python -c \"{BASELINE_IMPORTS}\"`",
            "measured": f"{seconds(median(cold[check_key]))} vs {seconds(median(cold[base_key]))}: {ratio:.2f} ×",
            "pass": ratio <= 1.3, "value": ratio})
    many = median(data["many"])
    rows.append({"budget": f"{data['many_count']} example-sized policies in one `sla check DIR` ≤ 3 s",
                 "measured": seconds(many), "pass": many <= 3.0, "value": many})
    cli = data["stages"]["CLI: cold `sla check FILE`"]
    if 1000 in cli:
        t = median(cli[1000]["runs"])
        rows.append({"budget": "1,000-stage policy checked (`sla check FILE`, cold, end to end) ≤ 1 s",
                     "measured": seconds(t), "pass": t <= 1.0, "value": t})
    worst = None
    for stage in (*FRONT, "check (parse + lower + checks)"):
        for (n1, n2), e in exponents(data, stage).items():
            if e is not None and (worst is None or e > worst[0]):
                worst = (e, stage, n1, n2)
    if worst:
        e, stage, n1, n2 = worst
        rows.append({"budget": "near-linear scaling of checking: exponent ≤ 1.2 (parse, lower, checks, between "
                     "every pair of consecutive sizes)",
                     "measured": f"largest: {e:.2f} ({stage}, {n1:,} → {n2:,} stages)", "pass": e <= 1.2, "value": e})
    return rows


def exponents(data: dict, stage: str) -> dict[tuple[int, int], float | None]:
    rows = data["stages"].get(stage, {})
    sizes = data["sizes"]
    out = {}
    for n1, n2 in zip(sizes, sizes[1:]):
        a, b = rows.get(n1, {}), rows.get(n2, {})
        if "runs" in a and "runs" in b:
            out[(n1, n2)] = exponent(median(a["runs"]), median(b["runs"]), n1, n2)
    return out


# ------------------------------------------------------------------ RESULTS.md


def markdown(data: dict) -> str:
    m = data["machine"]
    sizes = data["sizes"]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python bench/run.py` on {m['date']} at commit {m['commit']}; every figure below comes "
        "from that run (the JSON it prints with `--json` has every single measurement)"
        + (f", except where it says {data['rerun']['commit']}: " + data["rerun"]["what"]
           if data.get("rerun") else "") + ". "
        f"Medians of {data['runs']} runs (cold starts: {data['cold_runs']} interleaved rounds). "
        "Before timing, the script byte-compiles `sla_lang` with `python -m compileall` (as "
        "scripts/install.sh does; without .pyc files every start would recompile every module).",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cpus']} cores" + (f"; RAM {m['ram_bytes'] / 2**30:.1f} GiB" if m["ram_bytes"] else ""),
        f"- {m['python']} on {m['os']}",
        "- " + ", ".join(f"{k} {v}" for k, v in m["libraries"].items()),
        *([] if not m.get("compiled_modules") else [
            (f"- sla_lang: {m['compiled_modules'][0]} of its {m['compiled_modules'][1]} accelerated modules compiled "
             "(`python -m sla_lang.accelerate`; 0: the pure-Python modules; README, Performance)")]),
        f"- load average (1, 5, 15 min) at the start {', '.join(f'{x:.2f}' for x in m['load_average_at_start'])}, "
        f"at the end {', '.join(f'{x:.2f}' for x in m.get('load_average_at_end', ()))}: a shared 2-core VM, so "
        "single figures are noisy; compare medians, and ratios measured in the same run.",
        "",
        "## Budgets",
        "",
        "| budget | measured | result |",
        "|---|---|---|",
    ]
    for row in budgets(data):
        lines.append(f"| {row['budget']} | {row['measured']} | {'**pass**' if row['pass'] else '**FAIL**'} |")
    lines += [
        "",
        "## Synthetic policies",
        "",
        "`bench/generate.py N` (chain shape): segments of lead → MQL → SAL → SQL → opportunity → "
        "nurture with hand-offs, SLA/SLO pairs, business-day deadlines, follow-ups, escalations and "
        "recycle paths; each segment adds a score group of two rules and a conversion KPI. "
        "`sla check` reports nothing on any of them.",
        "",
        "| stages | lines | bytes | transitions | score rules | KPIs |",
        "|---|---|---|---|---|---|",
    ]
    for n in sizes:
        p = data["policies"][n] if n in data["policies"] else data["policies"][str(n)]
        lines.append(f"| {p['stages']:,} | {p['lines']:,} | {megabytes(p['bytes'])} | {p['transitions']:,} | "
                     f"{p['score_rules']:,} | {p['kpis']:,} |")
    pairs = list(zip(sizes, sizes[1:]))
    head = "| stage | " + " | ".join(f"{n:,} stages" for n in sizes) + " | " + " | ".join(
        f"exponent {a:,}→{b:,}" for a, b in pairs) + " |"
    lines += [
        "",
        "## Time per stage and size",
        "",
        "Median seconds. parse, lower and checks are timed in one process after a warm-up "
        "compilation (imports and the grammar are loaded; the cyclic GC is paused as in "
        "`compile.py`); each target's `build()` in a fresh process with the GC on, as in "
        "`sla build`. The last row is the whole command in a new interpreter (`python -m sla_lang "
        "check FILE`). Exponent: log(t₂/t₁) / log(n₂/n₁) between consecutive sizes (1 is linear; "
        "small sizes are dominated by fixed costs, so their exponents are low).",
        "",
        head,
        "|" + "---|" * (1 + len(sizes) + len(pairs)),
    ]
    notes = []
    order = [*FRONT, "check (parse + lower + checks)", *TARGETS, "CLI: cold `sla check FILE`"]
    for stage in order:
        rows = data["stages"].get(stage, {})
        cells = []
        for n in sizes:
            cell = rows.get(n) or rows.get(str(n)) or {}
            if "runs" in cell:
                text = seconds(median(cell["runs"]))
                if "bytes" in cell:
                    text += f" ({megabytes(cell['bytes'])})"
                cells.append(text)
            elif "not_run" in cell:
                notes.append((stage, n, cell["not_run"]))
                cells.append(f"not run[^{len(notes)}]")
            else:
                cells.append("—")
        exps = exponents(data, stage)
        exp_cells = [f"{exps[p]:.2f}" if exps.get(p) is not None else "—" for p in pairs]
        lines.append(f"| {stage} | " + " | ".join(cells) + " | " + " | ".join(exp_cells) + " |")
    lines.append("")
    lines.append("Output sizes of the targets in brackets.")
    for i, (stage, n, reason) in enumerate(notes, 1):
        lines.append(f"\n[^{i}]: {stage}, {n:,} stages — {reason}.")
    y = data["yaml"]
    cold = data["cold"]
    check_key = f"sla check {LARGEST_EXAMPLE.relative_to(ROOT)}"
    yaml_key = "yaml_check.py (PyYAML + jsonschema)"
    lines += [
        "",
        "## Cold start",
        "",
        f"Each command in a new interpreter, {data['cold_runs']} rounds, the order rotated every round.",
        "",
        "| command | median | min | max |",
        "|---|---|---|---|",
    ]
    for name, values in cold.items():
        lines.append(f"| `{name}` | {seconds(median(values))} | {seconds(min(values))} | {seconds(max(values))} |")
    sla_cold, yaml_cold = median(cold[check_key]), median(cold[yaml_key])
    warm = y["warm"]
    lines += [
        "",
        f"200 policies in one `sla check DIR` ({data['many_count']} copies of the {len(EXAMPLES)} examples, "
        f"each with its own title; {data['many_lines']:,} lines in all): median {seconds(median(data['many']))} "
        f"(runs: {', '.join(seconds(t) for t in data['many'])}).",
        "",
        "## YAML + jsonschema, the alternative",
        "",
        f"`{YAML_POLICY.relative_to(ROOT)}` is `{LARGEST_EXAMPLE.relative_to(ROOT)}` written as YAML "
        f"({y['yaml_lines']} lines against {y['sla_lines']}), `{YAML_SCHEMA.relative_to(ROOT)}` a "
        "Draft 2020-12 schema that validates it as strictly as JSON Schema can (closed objects, "
        "required fields, enumerations, patterns for names, durations, dates and percentages). "
        "`bench/yaml_check.py` loads it with PyYAML's C loader and prints jsonschema's errors. "
        "Both forms declare the same things:",
        "",
        "| | " + " | ".join(y["counts"]["sla"]) + " |",
        "|---|" + "---|" * len(y["counts"]["sla"]),
        "| .sla (IR) | " + " | ".join(str(v) for v in y["counts"]["sla"].values()) + " |",
        "| YAML | " + " | ".join(str(v) for v in y["counts"]["yaml"].values()) + " |",
        "",
        "| | YAML + jsonschema | `sla check` | ratio (sla / YAML) |",
        "|---|---|---|---|",
        f"| cold: a new interpreter per run | {seconds(yaml_cold)} | {seconds(sla_cold)} | {sla_cold / yaml_cold:.2f} × |",
        f"| warm: load + validate / parse + lower + checks, in one process | {seconds(median(warm['yaml_c_loader']))} "
        f"(pure-Python loader: {seconds(median(warm['yaml_pure_python_loader']))}) | {seconds(median(warm['sla']))} | "
        f"{median(warm['sla']) / median(warm['yaml_c_loader']):.2f} × (pure-Python loader: "
        f"{median(warm['sla']) / median(warm['yaml_pure_python_loader']):.2f} ×) |",
    ]
    if "check-jsonschema CLI" in cold:
        lines.append(f"| cold: `check-jsonschema --schemafile … FILE` (the ready-made CLI) | "
                     f"{seconds(median(cold['check-jsonschema CLI']))} | {seconds(sla_cold)} | "
                     f"{sla_cold / median(cold['check-jsonschema CLI']):.2f} × |")
    lines += [
        "",
        "What each reports when the same mistake is made in both forms:",
        "",
        "| mistake | `sla check` | jsonschema |",
        "|---|---|---|",
    ]
    for f in y["findings"]:
        sla_cell = ", ".join(f["sla"]) + (f" ({f['sla_errors']} error{'s' * (f['sla_errors'] != 1)})"
                                          if f["sla_errors"] else " (warning)") if f["sla"] else "nothing"
        js_cell = (f"{f['jsonschema_errors']} error{'s' * (f['jsonschema_errors'] != 1)}: "
                   f"{f['jsonschema'][0]}".replace("|", "\\|")) if f["jsonschema_errors"] else "valid"
        lines.append(f"| {f['mistake']} | {sla_cell} | {js_cell} |")
    if "baseline" in data:
        b = data["baseline"]
        revision = b["revision"]
        lines += [
            "",
            "## Before and after the optimisations of this branch",
            "",
            f"`--baseline {revision}`: the same measurements with sla_lang, grammar/ and targets/ as of "
            f"{revision} (byte-compiled the same way), runs interleaved with this tree's. Cold commands "
            "here run with `--isolated`.",
            "",
            "| measurement | before (median) | after (median) | after / before |",
            "|---|---|---|---|",
        ]
        for row in b["rows"]:
            before, after = median(row["before"]), median(row["after"])
            lines.append(f"| {row['what']} | {seconds(before)} | {seconds(after)} | {after / before:.2f} |")
    lines += ["", analysis(data).strip(), "", RERUN.strip(), ""]
    return "\n".join(lines)


def analysis(data: dict) -> str:
    """What the tables say, with the figures taken from them."""
    st = data["stages"]
    out = ["## Reading the results", ""]

    def at(stage: str, n: int) -> float | None:
        cell = st.get(stage, {}).get(n, {})
        return median(cell["runs"]) if "runs" in cell else None

    big = max((n for n in data["sizes"] if at("check (parse + lower + checks)", n)), default=None)
    if big:
        total = at("check (parse + lower + checks)", big)
        shares = ", ".join(f"{p} {100 * at(p, big) / total:.0f} %" for p in FRONT)
        out.append(f"- **Checking** at {big:,} stages: {shares} of {seconds(total)}. A file without syntax "
                   "errors is parsed by sla's own loop over Lark's LALR tables (sla_lang/fastparse.py: one "
                   "regular-expression pass for the tokens, one tree node per rule, positions read from "
                   "the first and last token); only a file with a syntax error goes through Lark's "
                   "recovering parser. Lowering and the checks are linear passes over the tree and the IR.")
    html = st.get("agreement html", {})
    sizes = [n for n in data["sizes"] if "bytes" in html.get(n, {})]
    if len(sizes) >= 2:
        a, b = sizes[-2], sizes[-1]
        e = exponent(html[a]["bytes"], html[b]["bytes"], a, b)
        out.append(f"- **agreement html** grows faster than linearly because its output does: the SVG "
                   f"stage diagram routes every edge through one point per rank it crosses, and in a "
                   f"chain the edges into the shared terminal stages cross almost every rank "
                   f"(output-size exponent {a:,}→{b:,}: {e:.2f}). The PDF draws the same SVG diagram. "
                   "Markdown (Mermaid) needs no layout and scales linearly.")
    hub = st.get("hubspot", {})
    if any("runs" in c for c in hub.values()):
        out.append("- **hubspot** is linear but heavy: one workflow file per stage and transition, "
                   "each validated against the target's JSON Schemas (jsonschema) before anything is "
                   "returned, which is most of its time.")
    fx = st.get("fixtures", {})
    if any("not_run" in c for c in fx.values()):
        out.append("- **fixtures** generates and simulates a few scenarios per transition, boundary, "
                   "deadline and follow-up step, so its output is about 100 kB per stage; it is measured "
                   "up to the size whose run finishes within the run limit here.")
    out.append("- **Cold start**: `sla check` imports click and lark but not networkx (only a policy "
               "with stages that cannot finish, or `--stats`, needs it), so the `import lark, click` "
               "row is the fairer floor.")
    return "\n".join(out)

RERUN = """
## Rerun

```sh
python bench/run.py --baseline 8cd6379   # writes bench/RESULTS.md (about 40 minutes here)
python bench/run.py --json out.json --no-write --sizes 10,100,1000 --runs 5
```

Options: `--sizes`, `--runs` (≥ 5), `--cold-runs`, `--limit` (seconds one run may take),
`--memory` (GiB per worker), `--skip STAGE` (e.g. `--skip "agreement pdf"`), `--baseline REV`
(before/after against a git revision), `--json FILE`, `--from-json FILE` (rewrite this file
from a saved run).
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--targets", action="store_true", help="issue 20's budgets instead: every target as a "
                        "whole `sla build` process, CPU time and peak RSS, pass/fail per budget "
                        "(bench/target_budgets.py; defaults: sizes 100,1000,10000, 3 runs, 60 s, 4 GiB)")
    parser.add_argument("--policies", type=int, default=50, help="with --targets: example-sized policies built "
                        "together (cold, then from the cache)")
    parser.add_argument("--sizes", type=lambda s: tuple(int(x) for x in s.split(",")), default=None)
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (medians; at least 5; --targets: 3)")
    parser.add_argument("--cold-runs", type=int, default=15, help="interleaved rounds of the cold-start comparison")
    parser.add_argument("--limit", type=float, default=None, help="seconds one run may take before it is stopped "
                        "(default 120; --targets: CPU seconds, 60)")
    parser.add_argument("--setup-limit", type=float, default=600, help="seconds a worker may take to compile its policy")
    parser.add_argument("--memory", type=float, default=None, help="GiB of address space per worker (default 8; "
                        "--targets: 4)")
    parser.add_argument("--skip", action="append", default=[], help="a stage not to measure (repeatable)")
    parser.add_argument("--json", help="also write the raw results as JSON to this file (- for stdout)")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    parser.add_argument("--from-json", help="write RESULTS.md from a JSON file of an earlier run instead of measuring")
    parser.add_argument("--baseline", metavar="REV", help="also measure git revision REV, interleaved, for a "
                        "before/after table (cold check, 200 policies, 1,000 stages)")
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    if args.targets:
        import target_budgets

        args.sizes = args.sizes or target_budgets.SIZES
        args.runs = args.runs or 3
        args.limit = args.limit or target_budgets.TIME_BUDGET
        args.memory = args.memory or 4
        return target_budgets.main(args)
    args.sizes = args.sizes or SIZES
    args.runs = args.runs or 5
    args.limit = args.limit or 120
    args.memory = args.memory or 8
    if args.from_json:
        data = json.loads(Path(args.from_json).read_text(encoding="utf-8"), object_hook=_int_keys)
    else:
        if args.runs < 5:
            parser.error("--runs must be at least 5 (the figures are medians of at least 5 runs)")
        data = measure(args)
    if args.json:
        text = json.dumps(data, indent=1, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text, encoding="utf-8")
    if not args.no_write:
        (BENCH / "RESULTS.md").write_text(markdown(data), encoding="utf-8")
        log(f"wrote {BENCH / 'RESULTS.md'}")
    for row in budgets(data):
        log(f"{'pass' if row['pass'] else 'FAIL'}  {row['budget']}: {row['measured']}")
    return 0


def _int_keys(obj: dict) -> dict:
    return {int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in obj.items()}


if __name__ == "__main__":
    raise SystemExit(main())
