"""`python -m sla_lang.accelerate [build|clean|status]`: compile the modules of
`sla_lang._compiled.MODULES` and the Cython modules of NATIVE (build), remove the compiled
copies (clean), or say which modules would load compiled (status). scripts/install.sh runs
`build`; how the compiled copies are found, and why a stale one is never used, is in
sla_lang/_compiled.py."""

from __future__ import annotations

import os
import sys

from ._compiled import (
    _DIRECTIVES,
    MODULES,
    NATIVE,
    PURE_PYTHON_ENV,
    SUFFIX,
    compiled_path,
    current_compiled_path,
    pure_python,
    source_digest,
    source_path,
)


def build(jobs: int = 2) -> int:
    """Compile every module of MODULES and NATIVE into its current compiled copy and remove the
    copies made from other versions of the source. Needs Cython, setuptools and a C compiler with
    Python's headers; returns 1 (having said why on stderr) when any of them is missing."""
    import shutil
    import tempfile

    try:
        from Cython.Build import cythonize
        from setuptools import Distribution, Extension
    except ImportError as exc:
        print(f"sla_lang.accelerate: cannot compile ({exc}); `pip install cython setuptools`", file=sys.stderr)
        return 1
    sources = {}
    for module in MODULES + NATIVE:
        with open(source_path(module), "rb") as handle:
            sources[module] = source_digest(handle.read())
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="sla-accelerate-") as work:
        # setuptools reads the project's pyproject.toml from the working directory: not ours
        os.chdir(work)
        try:
            extensions = [
                Extension(module, [source_path(module)], extra_compile_args=["-g0"]) for module in MODULES + NATIVE
            ]
            extensions = cythonize(
                extensions, compiler_directives=_DIRECTIVES, build_dir=os.path.join(work, "c"),
                nthreads=jobs, force=True, quiet=True,
            )
            distribution = Distribution({"name": "sla-lang-compiled", "ext_modules": extensions})
            distribution.verbose = 0  # not every compiler command line
            command = distribution.get_command_obj("build_ext")
            command.build_temp = os.path.join(work, "temp")
            command.build_lib = os.path.join(work, "lib")
            command.parallel = jobs
            distribution.run_command("build_ext")
            for module, digest in sources.items():
                built = os.path.join(work, "lib", *module.split(".")) + SUFFIX
                target = compiled_path(module, digest)
                for old in _copies_of(module):
                    if old != target:
                        os.remove(old)
                shutil.copyfile(built, target + ".tmp")
                os.replace(target + ".tmp", target)
        except Exception as exc:  # noqa: BLE001 - a compiler error, no headers …: the Python modules stay in use
            print(f"sla_lang.accelerate: compiling failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        finally:
            os.chdir(here)
    print(f"sla_lang.accelerate: compiled {len(MODULES) + len(NATIVE)} modules")
    return 0


def _copies_of(module: str) -> list[str]:
    """Every compiled copy of `module` in its folder, whatever source it was made from."""
    folder, leaf = os.path.split(os.path.splitext(source_path(module))[0])
    return [
        os.path.join(folder, name) for name in os.listdir(folder)
        if name.startswith(leaf + ".") and name.endswith(SUFFIX) and len(name) == len(leaf) + 65 + len(SUFFIX)
    ]


def clean() -> int:
    """Remove every compiled copy (back to the pure-Python modules)."""
    for module in MODULES + NATIVE:
        for path in _copies_of(module):
            os.remove(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m sla_lang.accelerate [build|clean|status]`."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "build"
    if command == "build":
        return build()
    if command == "clean":
        return clean()
    if command == "status":
        if pure_python():
            print(f"{PURE_PYTHON_ENV} is set: every module is used as pure Python")
        for module in MODULES:
            print(f"{module}: {'compiled' if current_compiled_path(module) else 'pure Python'}")
        for module in NATIVE:  # (no Python module: what would run without it is named)
            print(f"{module}: {'compiled' if current_compiled_path(module) else 'not built (its Python equivalent is used)'}")
        return 0
    print("usage: python -m sla_lang.accelerate [build|clean|status]", file=sys.stderr)
    return 2


def _main_for_the_shell() -> int:
    """main(), where the reader of `status | head` may go away: no traceback for that (as `sla`)."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (the final flush must not fail too)
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(_main_for_the_shell())
