#!/usr/bin/env python3
"""Validates churn-predict's OpenAPI document, then real answers against its schemas.

    check_openapi.py DOCUMENT.json ANSWERS.json

ANSWERS.json is a list of {"path", "method", "status", "content_type", "body"} recorded from a
running server (`server/tests/api/openapi.rs`). Each body must validate against the schema the
document gives for that path, method, status and media type. Exits non-zero naming every
failure.
"""
import json
import sys

from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate


def main(document_path: str, answers_path: str) -> int:
    with open(document_path) as f:
        document = json.load(f)
    validate(document)  # raises with the first problem
    with open(answers_path) as f:
        answers = json.load(f)
    failures = []
    for answer in answers:
        where = f'{answer["method"].upper()} {answer["path"]} → {answer["status"]}'
        operation = document["paths"].get(answer["template"], {}).get(answer["method"])
        if operation is None:
            failures.append(f"{where}: the document has no such operation")
            continue
        response = operation["responses"].get(str(answer["status"]))
        if response is None:
            failures.append(f"{where}: the document does not list this status")
            continue
        content = response.get("content", {}).get(answer["content_type"])
        if content is None:
            failures.append(f'{where}: no {answer["content_type"]} answer in the document')
            continue
        # `$ref`s point into the document's components: validate with them at hand.
        schema = dict(content["schema"], components=document["components"])
        errors = sorted(OAS31Validator(schema).iter_errors(answer["body"]), key=str)
        failures.extend(f"{where}: {e.message} at {list(e.absolute_path)}" for e in errors)
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"OpenAPI document valid; {len(answers) - len(failures)}/{len(answers)} answers match")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
