"""The `ir` target: the policy's IR as JSON, plus its fingerprint.

`ir.json` keeps source positions (for tools); `canonical.json` is the exact byte string whose
SHA-256 is the fingerprint printed in the agreement's footer, so anyone can recompute it.
"""

from __future__ import annotations

from ..ir import Policy
from ..irjson import canonical_bytes, dumps_bytes, fingerprint, policy_to_json
from . import BuildOptions, BuildResult

NAME = "ir"
FORMATS: tuple[str, ...] = ()
DEFAULT_FORMATS: tuple[str, ...] = ()


def build(policy: Policy, options: BuildOptions) -> BuildResult:
    canonical = canonical_bytes(policy)  # no newline: sha256sum gives the fingerprint
    return BuildResult(
        files={
            "ir.json": dumps_bytes(policy_to_json(policy)),
            "canonical.json": canonical,
            "fingerprint.txt": (fingerprint(policy, canonical) + "\n").encode("ascii"),
        }
    )
