"""template.yaml read by the local stack and the tests, so neither keeps a second list of resources.

Creates the template's DynamoDB tables, S3 buckets and state machines (with their
DefinitionSubstitutions applied) in whatever boto3 is pointed at (moto), and
resolves each function's handler, environment and HTTP routes.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml

ACCOUNT = "123456789012"
REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short tags (!Ref, !GetAtt, !Sub) as their long forms."""


def _cfn_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


@dataclass(frozen=True)
class Function:
    logical_id: str
    name: str
    handler: str  # "package.module.function"
    environment: dict[str, str]


@dataclass(frozen=True)
class Route:
    method: str  # "GET", ... or "ANY"
    path: str  # "/jobs/{id}"
    function: str  # logical id

    def matches(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$"
        found = re.match(pattern, path)
        return found.groupdict() if found else None


class Stack:
    def __init__(self, template: dict[str, Any], base_dir: Path, name: str, region: str, parameters: dict[str, str]) -> None:
        self.template = template
        self.base_dir = base_dir
        self.name = name
        self.region = region
        self.resources: dict[str, dict[str, Any]] = template["Resources"]
        self.parameters = {
            key: str(spec.get("Default", "")) for key, spec in template.get("Parameters", {}).items()
        } | parameters

    @classmethod
    def from_template(
        cls, path: Path = TEMPLATE, name: str = "ferry-local", region: str = "us-east-1", parameters: dict[str, str] | None = None
    ) -> Stack:
        with path.open(encoding="utf-8") as f:
            template = yaml.load(f, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
        return cls(template, path.parent, name, region, parameters or {})

    def _of_type(self, kind: str) -> list[str]:
        return [lid for lid, res in self.resources.items() if res["Type"] == kind]

    def physical(self, logical_id: str) -> str:
        """The name the resource gets here (lowercase, so every kind accepts it)."""
        return f"{self.name}-{logical_id}".lower()

    def arn(self, logical_id: str) -> str:
        kind = self.resources[logical_id]["Type"]
        name = self.physical(logical_id)
        if kind == "AWS::Serverless::Function":
            return f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{name}"
        if kind == "AWS::Serverless::StateMachine":
            return f"arn:aws:states:{self.region}:{ACCOUNT}:stateMachine:{name}"
        if kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{self.region}:{ACCOUNT}:table/{name}"
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{name}"
        raise KeyError(f"no ARN for {kind}")

    def resolve(self, value: Any) -> Any:
        """CloudFormation intrinsics -> the values they have on this stack."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            return self._ref(value["Ref"])
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            return self.arn(logical_id) if attribute == "Arn" else self.physical(logical_id)
        if "Fn::Sub" in value:
            return re.sub(r"\$\{([\w:.]+)\}", lambda m: str(self._sub(m.group(1))), value["Fn::Sub"])
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, name: str) -> Any:
        if "." in name:
            return self.resolve({"Fn::GetAtt": name.split(".", 1)})
        return self._ref(name)

    def _ref(self, name: str) -> str:
        pseudo = {"AWS::StackName": self.name, "AWS::Region": self.region, "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com"}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        kind = self.resources[name]["Type"]
        # What Ref gives for each kind in CloudFormation: ARNs for state machines, names otherwise.
        return self.arn(name) if kind == "AWS::Serverless::StateMachine" else self.physical(name)

    def create_resources(self, session: Any = boto3) -> None:
        dynamodb, s3, sfn = session.client("dynamodb"), session.client("s3"), session.client("stepfunctions")
        for logical_id in self._of_type("AWS::DynamoDB::Table"):
            props = self.resources[logical_id]["Properties"]
            spec = {k: props[k] for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode") if k in props}
            dynamodb.create_table(TableName=self.physical(logical_id), **spec)
            if "TimeToLiveSpecification" in props:
                dynamodb.update_time_to_live(TableName=self.physical(logical_id), TimeToLiveSpecification=props["TimeToLiveSpecification"])
        for logical_id in self._of_type("AWS::S3::Bucket"):
            s3.create_bucket(Bucket=self.physical(logical_id))
        for logical_id in self._of_type("AWS::Serverless::StateMachine"):
            sfn.create_state_machine(
                name=self.physical(logical_id),
                definition=self.state_machine_definition(logical_id),
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/{self.physical(logical_id)}",
                type=self.resources[logical_id]["Properties"].get("Type", "STANDARD"),
            )

    def state_machine_definition(self, logical_id: str) -> str:
        props = self.resources[logical_id]["Properties"]
        text = (self.base_dir / props["DefinitionUri"]).read_text(encoding="utf-8")
        for key, value in self.resolve(props.get("DefinitionSubstitutions", {})).items():
            text = text.replace("${" + key + "}", str(value))
        json.loads(text)  # a substitution that breaks the JSON should fail here, not in an execution
        return text

    def functions(self) -> list[Function]:
        shared = self.template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        found = []
        for logical_id in self._of_type("AWS::Serverless::Function"):
            props = self.resources[logical_id]["Properties"]
            own = props.get("Environment", {}).get("Variables", {})
            env = {k: str(v) for k, v in self.resolve({**shared, **own}).items()}
            found.append(Function(logical_id, self.physical(logical_id), props["Handler"], env))
        return found

    def function(self, logical_id: str) -> Function:
        return next(f for f in self.functions() if f.logical_id == logical_id)

    def http_routes(self) -> list[Route]:
        routes = []
        for logical_id in self._of_type("AWS::Serverless::Function"):
            for event in self.resources[logical_id]["Properties"].get("Events", {}).values():
                if event["Type"] == "HttpApi":
                    props = event["Properties"]
                    routes.append(Route(props["Method"].upper(), props["Path"], logical_id))
        # Literal segments win over parameters, as in API Gateway (/import/types before /import/{id}).
        return sorted(routes, key=lambda r: r.path.count("{"))
