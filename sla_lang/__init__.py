"""sla-lang: SLA-as-code for revenue teams."""

from ._compiled import install as _install_compiled

__version__ = "0.1.0"

# Before any other module of the package is imported: the compiled copies of the parser,
# lowering and checks, when built from the sources as they are now (sla_lang/_compiled.py).
_install_compiled()
