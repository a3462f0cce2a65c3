"""HubSpot's published OpenAPI specs (vendored, see ORIGIN.md) as JSON Schema validators.

The specs are OpenAPI 3.0 documents; their component schemas are plain JSON Schema (no
`nullable`, `allOf`, `anyOf` or `discriminator` in them), so jsonschema validates against
them directly once `#/components/schemas/…` references resolve inside the document.

Two kinds of problems are reported by `spec_errors`:
- schema errors: the body breaks a `required`, `type`, `enum` or `oneOf` of the schema;
- undeclared fields: a key the (resolved) object schema does not declare. The specs leave
  `additionalProperties` open almost everywhere, so a field HubSpot does not define would
  otherwise pass; a request must not send one.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

SPEC_DIR = Path(__file__).resolve().parent
AUTOMATION_V4 = "automationV4.json"
PROPERTIES_V3 = "properties.json"
CONTACTS_V3 = "contacts.json"
ASSOCIATIONS_V4 = "associationsV4.json"
CALLS_V3 = "calls.json"
SPECS = (AUTOMATION_V4, PROPERTIES_V3, CONTACTS_V3, ASSOCIATIONS_V4, CALLS_V3)


@cache
def load_spec(name: str) -> dict:
    """The spec document, exactly as vendored (do not mutate it)."""
    return json.loads((SPEC_DIR / name).read_text(encoding="utf-8"))


@cache
def _validation_document(name: str) -> dict:
    """The document the validators read: the vendored one plus the one deviation ORIGIN.md
    documents (any JSON value in a SINGLE_CONNECTION action's `fields`)."""
    document = copy.deepcopy(load_spec(name))
    schemas = document["components"]["schemas"]
    single = schemas.get("ApiSingleConnectionAction")
    if single is not None:
        single["properties"]["fields"]["additionalProperties"] = {}
    return document


def _uri(name: str) -> str:
    return f"urn:hubspot-spec:{name}"


@cache
def _registry(name: str):
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    return Registry().with_resource(_uri(name), Resource(contents=_validation_document(name), specification=DRAFT7))


def schema_names(name: str) -> list[str]:
    return sorted(load_spec(name)["components"]["schemas"])


@cache
def validator(name: str, schema: str):
    """A Draft 7 validator for one component schema of a spec, `$ref`s resolved."""
    from jsonschema import Draft7Validator

    if schema not in load_spec(name)["components"]["schemas"]:
        raise KeyError(f"{name} has no component schema {schema!r}")
    return Draft7Validator({"$ref": f"{_uri(name)}#/components/schemas/{schema}"}, registry=_registry(name))


def _resolve(name: str, schema: dict) -> dict:
    while "$ref" in schema:
        ref = schema["$ref"]
        prefix = "#/components/schemas/"
        ref = ref.removeprefix(_uri(name))
        if not ref.startswith(prefix):
            raise ValueError(f"unsupported $ref {ref!r}")
        schema = _validation_document(name)["components"]["schemas"][ref[len(prefix):]]
    return schema


_BRANCH_VALIDATORS: dict[tuple[str, int], Any] = {}


def _matches(name: str, branch: dict, instance: Any) -> bool:
    # `branch` is a node of the cached validation document, so its id is stable.
    key = (name, id(branch))
    if key not in _BRANCH_VALIDATORS:
        from jsonschema import Draft7Validator

        _BRANCH_VALIDATORS[key] = Draft7Validator(_qualify(name, branch), registry=_registry(name))
    return _BRANCH_VALIDATORS[key].is_valid(instance)


def _tag_fits(name: str, branch: dict, instance: Any) -> bool:
    """Whether the instance carries the branch's tag: a required property with a one-value
    enum (`type`, `filterType`, `operationType`, `filterBranchType` …). HubSpot tags every
    sub-type this way, which spares a full validation per `oneOf` branch."""
    schema = _resolve(name, branch)
    if not isinstance(instance, dict):
        return schema.get("type") != "object"
    for key in schema.get("required", ()):
        enum = (schema.get("properties", {}).get(key) or {}).get("enum")
        if enum and len(enum) == 1 and instance.get(key) != enum[0]:
            return False
    return True


def _qualify(name: str, schema: dict) -> dict:
    """Make `#/…` references inside a sub-schema absolute, so it validates on its own."""
    if isinstance(schema, dict):
        return {key: (_uri(name) + value if key == "$ref" and value.startswith("#") else _qualify(name, value))
                for key, value in schema.items()}
    if isinstance(schema, list):
        return [_qualify(name, item) for item in schema]
    return schema


def undeclared_fields(name: str, schema: str, instance: Any) -> list[str]:
    """JSON paths of object keys that the schema (followed through `$ref` and the `oneOf`
    branch the value matches) does not declare."""
    found: list[str] = []
    _walk(name, {"$ref": f"#/components/schemas/{schema}"}, instance, "$", found)
    return found


def _walk(name: str, schema: dict, instance: Any, path: str, found: list[str]) -> None:
    schema = _resolve(name, schema)
    branches = schema.get("oneOf") or schema.get("anyOf")
    if branches:
        matching = [b for b in branches if _tag_fits(name, b, instance)]
        if len(matching) > 1:
            matching = [b for b in matching if _matches(name, b, instance)]
        # No single matching branch is a schema error, reported by the validator; the fields
        # of a value that matches nothing cannot be attributed to a branch.
        if len(matching) == 1:
            _walk(name, matching[0], instance, path, found)
        return
    if isinstance(instance, dict):
        declared = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, value in instance.items():
            if key in declared:
                _walk(name, declared[key], value, f"{path}.{key}", found)
            elif isinstance(extra, dict):
                _walk(name, extra, value, f"{path}.{key}", found)
            elif declared:
                found.append(f"{path}.{key}")
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(instance):
            _walk(name, schema["items"], item, f"{path}[{index}]", found)


def _leaves(name: str, error) -> list:
    """A `oneOf` failure says only "not valid under any of the given schemas". Descend into
    the branch the value was meant for (the one whose tag it carries, else the one with the
    fewest errors) so the report names the field that is wrong."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return [error]
    by_branch: dict[int, list] = {}
    for sub in error.context:
        by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
    branches = error.schema[error.validator]
    tagged = [i for i in by_branch if _tag_fits(name, branches[i], error.instance)]
    chosen = min(tagged or by_branch, key=lambda i: len(by_branch[i]))
    return [leaf for sub in by_branch[chosen] for leaf in _leaves(name, sub)]


def spec_errors(name: str, schema: str, instance: Any) -> list[str]:
    """Everything wrong with `instance` as a `schema` body of spec `name`, as readable lines."""
    problems = []
    errors = [leaf for error in validator(name, schema).iter_errors(instance) for leaf in _leaves(name, error)]
    for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        problems.append(f"{where}: {error.message[:300]}")
    problems.extend(f"{path}: not declared by {schema}" for path in undeclared_fields(name, schema, instance))
    return problems
