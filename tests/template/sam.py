"""template.yaml as SAM hands it to CloudFormation: the AWS::Serverless-2016-10-31 transform, run by samtranslator.

`sam build` is not needed: it only builds the code; `sam package` then points CodeUri,
ContentUri and DefinitionUri at S3, which is all the transform asks of them. What comes
out is the plain CloudFormation that `sam deploy` creates a change set from.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from ferry_local.template import REGION, TEMPLATE, Stack

# The properties `sam package` rewrites to the S3 objects it uploaded.
PACKAGED_PATHS = ("CodeUri", "ContentUri", "DefinitionUri")
# A deployment that works: the template refuses one without a MongoDB (its rule BusinessDataHasADatabase).
DEPLOYABLE = {"MongoDbUri": "mongodb+srv://ferry:secret@cluster0.example.mongodb.net"}


@cache
def _translated(parameters: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    template = copy.deepcopy(Stack.from_template(TEMPLATE).template)
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in PACKAGED_PATHS:
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://sam-package/{properties[key].strip('/')}"
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=REGION))
    # AWS managed policies are named by ARN in the template and by SAM itself: none needs looking up.
    return translator.translate(template, parameter_values=dict(parameters), get_managed_policy_map=dict)


def translate(parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The CloudFormation template SAM makes of template.yaml with these parameters (a copy, free to change)."""
    return copy.deepcopy(_translated(tuple(sorted((parameters if parameters is not None else DEPLOYABLE).items()))))


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {logical_id: resource for logical_id, resource in template["Resources"].items() if resource["Type"] == kind}


def policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(role or policy logical id, statement) for every statement of the IAM roles' inline policies and of
    the IAM policies, either branch of an Fn::If included."""

    def documents(policy: Any) -> Iterator[dict[str, Any]]:
        if isinstance(policy, dict) and "Fn::If" in policy:
            for branch in policy["Fn::If"][1:]:
                yield from documents(branch)
        elif isinstance(policy, dict) and "PolicyDocument" in policy:
            yield policy["PolicyDocument"]

    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            policies = resource["Properties"].get("Policies", [])
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            policies = [resource["Properties"]]
        else:
            continue
        for policy in policies:
            for document in documents(policy):
                statements = document["Statement"]
                for statement in statements if isinstance(statements, list) else [statements]:
                    yield logical_id, statement
