"""The alternative to `sla check`: a policy written as YAML, validated with jsonschema.

    python bench/yaml_check.py bench/yaml/sla-policy.schema.json bench/yaml/inside_sales_sal.yaml

What a team would write without sla-lang: load the YAML with PyYAML (`safe_load`, with the
libyaml C loader when PyYAML has it, as a careful user would) and validate it with the
Draft 2020-12 validator of jsonschema, printing every error. Exit status 1 when there are
errors. bench/run.py times this against `python -m sla_lang check` on the same policy.
"""

from __future__ import annotations

import json
import sys

import jsonschema
import yaml

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def errors(schema: dict, path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        data = yaml.load(f, Loader=Loader)
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{path}: $.{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    ]


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: yaml_check.py SCHEMA FILE...", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        schema = json.load(f)
    found = [line for path in argv[1:] for line in errors(schema, path)]
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
