"""Optional compiled copies of the modules `sla check` spends its time in.

`python -m sla_lang.accelerate` (run by scripts/install.sh) compiles each module in MODULES,
unchanged, with Cython into a C extension and puts it beside its `.py`, named after the SHA-256
of the source it came from: `lower.<digest>.cpython-311-x86_64-linux-gnu.so`. Python's own
import system never loads a file of that name; the finder below does, for a module in MODULES,
and only when the digest in the name is that of the `.py` there now. So an edited `.py` is
never shadowed by an old build (its digest has changed: the `.py` is imported), and with no
build, or with SLA_PURE_PYTHON=1 in the environment, every module is the plain Python one.

The `.py` files stay the reference: the compiled copies are the same code, which Cython turns
into C calls of the Python API (it skips the interpreter's dispatch; it changes no semantics:
type annotations are not used as C types, see `_DIRECTIVES`). tests/test_accelerate.py runs a
corpus through both and requires byte-identical diagnostics. Measured: the cold `sla check` of
the 10,000-stage bench policy in 78 % of the pure-Python CPU time (README, "Performance").
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES, ExtensionFileLoader
from importlib.util import spec_from_file_location

# The parser, the lowering, the IR and the checks: what `sla check` of a large policy runs.
MODULES = (
    "sla_lang.fastparse",
    "sla_lang.lower",
    "sla_lang.ir",
    "sla_lang.source",
    "sla_lang.message",
    "sla_lang.diagnostics",
    "sla_lang.compile",
    "sla_lang.checks.completeness",
    "sla_lang.checks.conditions",
    "sla_lang.checks.contract",
    "sla_lang.checks.durations",
    "sla_lang.checks.graph",
    "sla_lang.checks.identifiers",
    "sla_lang.checks.liveness",
    "sla_lang.checks.names",
    "sla_lang.checks.operations",
    "sla_lang.checks.ownership",
    "sla_lang.checks.recognition",
    "sla_lang.checks.scoring",
    "sla_lang.checks.templates",
    "sla_lang.checks.timing",
)
# Modules written for Cython (`.pyx`, not Python): with no current compiled copy they cannot be
# imported at all, and their importer uses its Python equivalent (fastparse: its own loop).
NATIVE = ("sla_lang.fastloop",)
PURE_PYTHON_ENV = "SLA_PURE_PYTHON"  # set (to anything but "" or "0"): never load a compiled module
SUFFIX = EXTENSION_SUFFIXES[0]  # this interpreter's own ABI tag: '.cpython-311-x86_64-linux-gnu.so'
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Cython compiles the Python unchanged; `annotation_typing` off: an annotation such as
# `-> dict` would otherwise become an exact-type check (a dict subclass would be refused).
_DIRECTIVES = {"language_level": 3, "annotation_typing": False}

try:  # the interpreter's built-in SHA-256: `hashlib` would load OpenSSL (2 ms of every start)
    from _sha256 import sha256
except ImportError:  # pragma: no cover - other builds of Python
    from hashlib import sha256


def source_path(module: str) -> str:
    return os.path.join(_PACKAGE_ROOT, *module.split(".")) + (".pyx" if module in NATIVE else ".py")


def source_digest(data: bytes, directives: dict = _DIRECTIVES) -> str:
    """The name of a compiled copy: the source's bytes and how it is compiled (a change of the
    directives makes every earlier copy stale, as an edit of the source does)."""
    return sha256(data + repr(sorted(directives.items())).encode()).hexdigest()


def compiled_path(module: str, digest: str) -> str:
    """Where the compiled copy of `module` made from the source with `digest` lives."""
    return os.path.splitext(source_path(module))[0] + f".{digest}{SUFFIX}"


def current_compiled_path(module: str) -> str | None:
    """The compiled copy of `module` made from its `.py` as it is now, or None."""
    try:
        with open(source_path(module), "rb") as handle:
            digest = source_digest(handle.read())
    except OSError:
        return None
    path = compiled_path(module, digest)
    return path if os.path.isfile(path) else None


def pure_python() -> bool:
    return os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0")


class _CompiledLoader(ExtensionFileLoader):
    """The extension module; but `python -m sla_lang.fastparse` runs the `.py` as a script
    (an extension has no code object for runpy to run), and a compiled copy that cannot be
    loaded (damaged, or built for another interpreter with the same tag) gives way to the
    `.py`, with a warning: sla must not fail for want of a speed-up. (A module of NATIVE has no
    `.py`: its import fails, and its importer uses the Python code it stands in for.)"""

    def create_module(self, spec):
        try:
            return super().create_module(spec)
        except ImportError as exc:
            instead = "the Python code instead" if spec.name in NATIVE else "its Python module"
            print(f"sla: warning: the compiled {spec.name} cannot be loaded ({exc}); using "
                  f"{instead} (rebuild: python -m sla_lang.accelerate)", file=sys.stderr)
            if spec.name in NATIVE:
                raise  # no Python module of that name: its importer falls back
            self.fallback = True
            spec.origin = source_path(spec.name)  # the module's __file__
            return None  # an ordinary module object, filled by exec_module

    def exec_module(self, module):
        if getattr(self, "fallback", False):
            exec(self.get_code(module.__name__), module.__dict__)  # noqa: S102 - our own module's source
        else:
            super().exec_module(module)

    def get_code(self, fullname):
        path = source_path(fullname)
        with open(path, "rb") as handle:
            return compile(handle.read(), path, "exec", dont_inherit=True)

    def get_source(self, fullname):
        with open(source_path(fullname), encoding="utf-8") as handle:
            return handle.read()


class CompiledFinder:
    """A meta-path finder for MODULES: the current compiled copy, or None (the usual `.py`)."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname not in MODULES and fullname not in NATIVE:
            return None
        compiled = current_compiled_path(fullname)
        if compiled is None:
            return None
        return spec_from_file_location(fullname, compiled, loader=_CompiledLoader(fullname, compiled))


def install() -> None:
    """Put the finder in front of Python's own (called when the package is imported)."""
    if not pure_python() and CompiledFinder not in sys.meta_path:
        sys.meta_path.insert(0, CompiledFinder)


def compiled_modules() -> list[str]:
    """The modules of MODULES and NATIVE loaded from a compiled copy in this process."""
    return [name for name in MODULES + NATIVE
            if name in sys.modules and sys.modules[name].__file__.endswith(SUFFIX)]
