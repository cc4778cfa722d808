#!/usr/bin/env python3
"""Check AWS CLI commands against botocore's service models, offline.

    echo '["aws sts get-caller-identity --region eu-west-1", ...]' | scripts/check_aws_cli.py

Reads a JSON list of `aws ...` command lines (shell quoting as written; `$VAR` and `$(…)` are
taken as opaque values) and prints {"checked": N, "problems": [...]}. A command passes when
its service and operation exist (or it is one of the CLI's own commands used here: `wait`,
`ecr get-login-password`), every option is a global option or a parameter of that operation,
shorthand values (`Key=value,...`) name members that exist, values of enumerated types
(instance types, ...) are known ones, and every required parameter is given. This is what
`aws` itself checks before sending anything, so a typo in the deploy guide fails here rather
than half-way through a first deployment.
"""

import json
import re
import shlex
import sys

import botocore.session
from botocore import xform_name

# Global options of the AWS CLI v2 that take a value, and those that do not.
GLOBAL_WITH_VALUE = {
    "--region",
    "--output",
    "--query",
    "--profile",
    "--endpoint-url",
    "--cli-binary-format",
    "--color",
    "--cli-read-timeout",
    "--cli-connect-timeout",
    "--ca-bundle",
}
GLOBAL_FLAGS = {"--no-cli-pager", "--no-paginate", "--debug", "--no-verify-ssl", "--no-sign-request"}
# Options that open an interactive prompt: never in a script.
PROMPTING = {"--cli-auto-prompt"}
# CLI commands that are not API operations: (service, command) -> options they take.
CUSTOM = {("ecr", "get-login-password"): set()}
# Shell redirections left in a command line (`>/dev/null`, `2>&1`): not the CLI's business.
REDIRECTION = re.compile(r"^[0-9]*(>>?|<)")
# Operations whose CLI command takes one positional argument (the output file).
POSITIONAL = {("lambda", "invoke")}


def shorthand_pairs(value):
    """Top-level (key, value) pairs of `K=v,K2={...},K3=[...]`, or None for JSON and opaque
    values."""
    if not value or value[0] in "{[$":
        return None
    pairs, depth, start = [], 0, 0
    for i, c in enumerate(value + ","):
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        elif c == "," and depth == 0:
            part = value[start:i]
            start = i + 1
            if "=" in part:
                pairs.append(tuple(part.split("=", 1)))
    return pairs


def enum_problem(shape, value):
    """A message when `value` (not a shell variable) is not one of the shape's enum values."""
    enum = getattr(shape, "enum", None)
    if enum and "$" not in value and value not in enum:
        return f"{value!r} is not one of {shape.name}'s values"
    return None


def check(session, line):
    words = shlex.split(line)
    if len(words) < 3 or words[0] != "aws":
        return [f"not an aws command: {line}"]
    service, command, rest = words[1], words[2], words[3:]
    try:
        model = session.get_service_model(service)
    except Exception as e:  # noqa: BLE001 - any lookup failure is the finding
        return [f"{line}: no service {service!r} ({e})"]

    if (service, command) in CUSTOM:
        members, required = {}, set()
    else:
        if command == "wait":
            if not rest:
                return [f"{line}: wait needs a waiter name"]
            waiters = session.get_waiter_model(service)
            names = {xform_name(n, "-"): n for n in waiters.waiter_names}
            if rest[0] not in names:
                return [f"{line}: no waiter {rest[0]!r} (known: {sorted(names)})"]
            operation_name = waiters.get_waiter(names[rest[0]]).operation
            rest = rest[1:]
        else:
            operations = {xform_name(n, "-"): n for n in model.operation_names}
            if command not in operations:
                return [f"{line}: no operation {service} {command}"]
            operation_name = operations[command]
        shape = model.operation_model(operation_name).input_shape
        members = {xform_name(n, "-"): (n, s) for n, s in shape.members.items()} if shape else {}
        required = set(shape.required_members) if shape else set()

    problems, given, positional = [], set(), []
    i = 0
    while i < len(rest):
        word = rest[i]
        i += 1
        if REDIRECTION.match(word):
            # `>/dev/null`, `2>&1`, or `>` followed by its target.
            if word.rstrip("0123456789") in (">", ">>", "<", "2>", "2>>"):
                i += 1
            continue
        if not word.startswith("--"):
            positional.append(word)
            continue
        if word in PROMPTING:
            problems.append(f"{line}: {word} prompts")
            continue
        if word in GLOBAL_FLAGS:
            continue
        if word in GLOBAL_WITH_VALUE:
            i += 1
            continue
        name = word[2:]
        negated = name.startswith("no-") and name[3:] in members
        if negated:
            name = name[3:]
        if name not in members:
            problems.append(f"{line}: {service} {command} has no option --{name}")
            continue
        member, member_shape = members[name]
        given.add(member)
        if member_shape.type_name == "boolean":
            continue
        if negated:
            problems.append(f"{line}: --no-{name} is only for booleans")
        if i >= len(rest):
            problems.append(f"{line}: --{name} needs a value")
            continue
        value = rest[i]
        i += 1
        target = member_shape.member if member_shape.type_name == "list" else member_shape
        pairs = shorthand_pairs(value)
        if pairs is not None and target.type_name == "structure":
            for key, item in pairs:
                if key not in target.members:
                    problems.append(
                        f"{line}: --{name} has no member {key!r} (known: {sorted(target.members)})"
                    )
                elif problem := enum_problem(target.members[key], item):
                    problems.append(f"{line}: --{name} {key}: {problem}")
        elif target.type_name == "string" and (problem := enum_problem(target, value)):
            problems.append(f"{line}: --{name}: {problem}")
    allowed_positional = 1 if (service, command) in POSITIONAL else 0
    if len(positional) > allowed_positional:
        problems.append(f"{line}: unexpected arguments {positional}")
    if (service, command) in POSITIONAL and not positional:
        problems.append(f"{line}: the output file is missing")
    for member in sorted(required - given):
        problems.append(f"{line}: required --{xform_name(member, '-')} is missing")
    return problems


def main():
    lines = json.load(sys.stdin)
    session = botocore.session.get_session()
    problems = []
    for line in lines:
        problems.extend(check(session, line))
    json.dump({"checked": len(lines), "problems": problems}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
