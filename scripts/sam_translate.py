#!/usr/bin/env python3
"""Translate a SAM template to CloudFormation offline and print it as JSON.

    scripts/sam_translate.py deploy/template.yaml [Name=Value ...]

This is what CloudFormation's AWS::Serverless-2016-10-31 transform does at deploy time, run
here with samtranslator (the library cfn-lint ships) so tests can inspect the resources a
stack would really get: stages, methods, usage plans, policies. Nothing leaves the machine:
the account, region and partition are fake parameters, the credentials are fake, and the one
AWS call samtranslator may make (IAM ListPolicies, to resolve managed policy names) is
answered by a botocore Stubber, which raises on any other call instead of sending it.

Local `CodeUri`s are replaced by an S3 location, as `sam deploy` does after uploading.
Parameters not given on the command line take their template defaults, as in a deployment
that accepts them.
"""

import json
import os
import sys

FAKE_ACCOUNT = "123456789012"
FAKE_REGION = "eu-west-1"
FAKE_PARTITION = "aws"


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    # Before boto3 is imported: never read the user's AWS files or probe instance metadata.
    for key in list(os.environ):
        if key.startswith("AWS_"):
            del os.environ[key]
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": FAKE_REGION,
            "AWS_REGION": FAKE_REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/nonexistent/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        }
    )

    import boto3
    from botocore.stub import Stubber
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    with open(argv[1], encoding="utf-8") as f:
        template = yaml_parse(f.read())
    # `sam deploy` uploads local code and puts its S3 location in the template first.
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(
            props.get("CodeUri"), str
        ):
            if not props["CodeUri"].startswith("s3://"):
                props["CodeUri"] = "s3://sam-artifacts-bucket/churn-predict/code.zip"

    parameters = {
        "AWS::AccountId": FAKE_ACCOUNT,
        "AWS::Region": FAKE_REGION,
        "AWS::Partition": FAKE_PARTITION,
        "AWS::StackName": "churn-predict",
        "AWS::StackId": f"arn:aws:cloudformation:{FAKE_REGION}:{FAKE_ACCOUNT}:stack/churn-predict/fake",
        "AWS::URLSuffix": "amazonaws.com",
    }
    for arg in argv[2:]:
        name, sep, value = arg.partition("=")
        if not sep:
            print(f"not Name=Value: {arg}", file=sys.stderr)
            return 2
        parameters[name] = value

    session = boto3.session.Session(region_name=FAKE_REGION)
    iam = session.client("iam")
    stubber = Stubber(iam)
    # Managed policy names (if the template uses any) resolve against an empty list.
    stubber.add_response("list_policies", {"Policies": [], "IsTruncated": False})
    with stubber:
        try:
            translated = transform(template, parameters, ManagedPolicyLoader(iam))
        except InvalidDocumentException as e:
            for cause in e.causes:
                print(f"invalid SAM template: {cause.message}", file=sys.stderr)
            return 1
    json.dump(translated, sys.stdout, indent=1, sort_keys=True, default=str)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
