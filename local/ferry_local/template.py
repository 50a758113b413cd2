"""template.yaml read by the local stack and the tests, so neither keeps a second list of resources.

Creates the template's DynamoDB tables, S3 buckets, secrets and state machines (with their
DefinitionSubstitutions applied) in whatever boto3 is pointed at (moto), and
resolves each function's handler, environment and HTTP routes.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml

ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK_NAME = "ferry-local"
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
    memory_mb: int
    timeout_s: int
    code_roots: tuple[Path, ...] = ()  # its CodeUri, then its layers' content, as Lambda mounts them


@dataclass(frozen=True)
class Route:
    method: str  # "GET", ... or "ANY"
    path: str  # "/jobs/{id}"
    function: str  # logical id
    authorizer: str | None = None  # logical id of its Lambda authorizer's function; None: public

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    def matches(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        if self.path == "$default":
            return {}
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$"
        found = re.match(pattern, path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class Schedule:
    name: str  # "<function logical id>.<event name>", or an AWS::Scheduler::Schedule's logical id
    function: str | None  # the logical id of the function it invokes; None when it starts a state machine
    expression: str  # "rate(5 minutes)" or "cron(...)"
    input: dict[str, Any]
    timezone: str = "UTC"
    state_machine: str | None = None  # the ARN of the state machine it starts


class Stack:
    def __init__(self, template: dict[str, Any], base_dir: Path, name: str, region: str, parameter_overrides: dict[str, Any]) -> None:
        self.template = template
        self.base_dir = base_dir
        self.name = name
        self.region = region
        self.resources: dict[str, dict[str, Any]] = template["Resources"]
        declared = template.get("Parameters", {})
        unknown = set(parameter_overrides) - set(declared)
        if unknown:
            raise KeyError(f"not parameters of the template: {sorted(unknown)}")
        # CloudFormation hands every parameter to the functions as a string, numbers included.
        self.parameters = {key: str(spec.get("Default", "")) for key, spec in declared.items()}
        self.parameters |= {key: str(value) for key, value in parameter_overrides.items()}

    @classmethod
    def from_template(
        cls,
        path: Path = TEMPLATE,
        stack_name: str = STACK_NAME,
        region: str = REGION,
        parameter_overrides: dict[str, Any] | None = None,
    ) -> Stack:
        with Path(path).open(encoding="utf-8") as f:
            template = yaml.load(f, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
        return cls(template, Path(path).parent, stack_name, region, parameter_overrides or {})

    def _of_type(self, kind: str) -> list[str]:
        return [lid for lid, res in self.resources.items() if res["Type"] == kind]

    def physical(self, logical_id: str) -> str:
        """The name the resource gets here: `<stack>-<logical id>`, made valid for every kind, S3 buckets included.

        Lowercase letters, digits and hyphens, 3 to 63 characters; a name that would be
        longer keeps a hash of the whole, so two long logical ids never share a name.
        """
        if logical_id not in self.resources:
            raise KeyError(f"no resource {logical_id!r} in the template")
        name = re.sub(r"[^a-z0-9-]+", "-", f"{self.name}-{logical_id}".lower()).strip("-")
        if len(name) > 63:
            name = f"{name[:54].rstrip('-')}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        if len(name) < 3:
            raise ValueError(f"stack name {self.name!r} gives {logical_id} the too short name {name!r}")
        return name

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
        if kind == "AWS::IAM::Role":
            return f"arn:aws:iam::{ACCOUNT}:role/{name}"
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
            text, variables = value["Fn::Sub"] if isinstance(value["Fn::Sub"], list) else (value["Fn::Sub"], {})
            variables = self.resolve(variables)
            return re.sub(
                r"\$\{([\w:.]+)\}", lambda m: str(variables[m[1]] if m[1] in variables else self._sub(m[1])), text
            )
        if "Fn::If" in value:
            condition, when_true, when_false = value["Fn::If"]
            return self.resolve(when_true if self.condition(condition) else when_false)
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(str(part) for part in self.resolve(parts))
        intrinsics = [key for key in value if key.startswith("Fn::")]
        if intrinsics:
            # Better to stop here than to hand a function a setting that reads "{'Fn::If': ...}".
            raise NotImplementedError(f"the local stack does not resolve {intrinsics[0]}")
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, name: str) -> Any:
        if "." in name:
            return self.resolve({"Fn::GetAtt": name.split(".", 1)})
        return self._ref(name)

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::StackName": self.name,
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        kind = self.resources[name]["Type"]
        if kind == "AWS::SecretsManager::Secret":
            # CloudFormation gives its ARN, whose random suffix moto chooses; its name serves every call as well.
            return self.secret_name(name)
        # What Ref gives for each kind in CloudFormation: ARNs for state machines, names otherwise.
        return self.arn(name) if kind == "AWS::Serverless::StateMachine" else self.physical(name)

    def secret_name(self, logical_id: str) -> str:
        return str(self.resolve(self.resources[logical_id]["Properties"].get("Name", self.physical(logical_id))))

    def create_resources(self, session: Any = boto3) -> None:
        """Creates the tables, buckets, secrets and state machines in whatever `session` (boto3, or a boto3.Session) points at.

        Only what the code relies on is created: keys, indexes, billing mode and TTL;
        encryption, point-in-time recovery and lifecycle rules change nothing moto does.
        """
        dynamodb, s3, sfn = session.client("dynamodb"), session.client("s3"), session.client("stepfunctions")
        for logical_id in self._of_type("AWS::DynamoDB::Table"):
            props = self.resolve(self.resources[logical_id]["Properties"])
            spec = {k: props[k] for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode") if k in props}
            dynamodb.create_table(TableName=self.physical(logical_id), **spec)
            if "TimeToLiveSpecification" in props:
                dynamodb.update_time_to_live(TableName=self.physical(logical_id), TimeToLiveSpecification=props["TimeToLiveSpecification"])
        for logical_id in self._of_type("AWS::S3::Bucket"):
            s3.create_bucket(Bucket=self.physical(logical_id))
        secretsmanager = session.client("secretsmanager")
        for logical_id in self._of_type("AWS::SecretsManager::Secret"):
            resource = self.resources[logical_id]
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            secretsmanager.create_secret(Name=self.secret_name(logical_id), SecretString=str(self.resolve(resource["Properties"]["SecretString"])))
        events = session.client("events")
        for rule, pattern, function in self.event_rules():
            events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
            events.put_targets(Rule=rule, Targets=[{"Id": function, "Arn": self.arn(function)}])
        sesv2 = session.client("sesv2")
        for identity in self.mail_identities():
            # SES refuses to send from an unverified identity (as in its sandbox): the deployer verifies it; here, the stack.
            sesv2.create_email_identity(EmailIdentity=identity)
        for logical_id in self._of_type("AWS::Serverless::StateMachine"):
            sfn.create_state_machine(
                name=self.physical(logical_id),
                definition=self.state_machine_definition(logical_id),
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/{self.physical(logical_id)}",
                type=self.resources[logical_id]["Properties"].get("Type", "STANDARD"),
            )

    def event_rules(self) -> list[tuple[str, dict[str, Any], str]]:
        """The functions' EventBridgeRule events: (rule name, pattern, function logical id)."""
        found = []
        for logical_id in self._of_type("AWS::Serverless::Function"):
            for event_name, event in self.resources[logical_id]["Properties"].get("Events", {}).items():
                if event["Type"] == "EventBridgeRule":
                    found.append((f"{self.name}-{logical_id}-{event_name}"[:64], self.resolve(event["Properties"]["Pattern"]), logical_id))
        return found

    def mail_identities(self) -> list[str]:
        """The SES identities the template's functions send from (their SESCrudPolicy's IdentityName)."""
        found = []
        for logical_id in self._of_type("AWS::Serverless::Function"):
            for policy in self.resources[logical_id]["Properties"].get("Policies", []):
                if isinstance(policy, dict) and "SESCrudPolicy" in policy:
                    found.append(str(self.resolve(policy["SESCrudPolicy"]["IdentityName"])))
        return found

    def state_machine_definition(self, logical_id: str) -> str:
        """The ASL of a state machine with its DefinitionSubstitutions applied, as SAM deploys it."""
        props = self.resources[logical_id]["Properties"]
        text = (self.base_dir / props["DefinitionUri"]).read_text(encoding="utf-8")
        for key, value in self.resolve(props.get("DefinitionSubstitutions", {})).items():
            text = text.replace("${" + key + "}", str(value))
        missing = re.search(r"\$\{(\w+)\}", text)
        if missing:
            raise KeyError(f"{props['DefinitionUri']} uses ${{{missing[1]}}}, which DefinitionSubstitutions of {logical_id} lacks")
        json.loads(text)  # a substitution that breaks the JSON should fail here, not in an execution
        return text

    def functions(self) -> list[Function]:
        """Each function's handler, limits and environment: the Globals' variables, then its own, resolved."""
        globals_ = self.template.get("Globals", {}).get("Function", {})
        shared = globals_.get("Environment", {}).get("Variables", {})
        found = []
        for logical_id in self._of_type("AWS::Serverless::Function"):
            props = self.resources[logical_id]["Properties"]
            own = props.get("Environment", {}).get("Variables", {})
            env = {k: str(v) for k, v in self.resolve({**shared, **own}).items()}
            # Lambda's own defaults when neither the function nor the Globals say: 128 MB, 3 s.
            memory = int(self.resolve(props.get("MemorySize", globals_.get("MemorySize", 128))))
            timeout = int(self.resolve(props.get("Timeout", globals_.get("Timeout", 3))))
            layers = props.get("Layers", globals_.get("Layers", []))
            roots = [self.base_dir / props["CodeUri"]] + [self.base_dir / self.resources[layer["Ref"]]["Properties"]["ContentUri"] for layer in layers]
            found.append(Function(logical_id, self.physical(logical_id), props["Handler"], env, memory, timeout, tuple(roots)))
        return found

    def function(self, logical_id: str) -> Function:
        for function in self.functions():
            if function.logical_id == logical_id:
                return function
        raise KeyError(f"no function {logical_id!r} in the template")

    def schedules(self) -> list[Schedule]:
        """The functions' Schedule and ScheduleV2 events, and the AWS::Scheduler::Schedule resources whose condition holds."""
        found = []
        for logical_id in self._of_type("AWS::Serverless::Function"):
            for event_name, event in self.resources[logical_id]["Properties"].get("Events", {}).items():
                if event["Type"] not in ("Schedule", "ScheduleV2"):
                    continue
                props = self.resolve(event["Properties"])
                expression = props.get("ScheduleExpression") or props["Schedule"]
                found.append(
                    Schedule(
                        f"{logical_id}.{event_name}",
                        logical_id,
                        expression,
                        json.loads(props.get("Input") or "{}"),
                        props.get("ScheduleExpressionTimezone", "UTC"),
                    )
                )
        for logical_id in self._of_type("AWS::Scheduler::Schedule"):
            resource = self.resources[logical_id]
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            props = self.resolve(resource["Properties"])
            target = props["Target"]
            found.append(
                Schedule(
                    logical_id, None, props["ScheduleExpression"], json.loads(target.get("Input") or "{}"),
                    props.get("ScheduleExpressionTimezone", "UTC"), target["Arn"],
                )
            )
        return found

    def condition(self, name: str) -> bool:
        """A template condition's value on this stack (Fn::And, Fn::Or, Fn::Not, Fn::Equals over parameters)."""
        return bool(self._evaluate(self.template.get("Conditions", {})[name]))

    def _evaluate(self, expression: Any) -> Any:
        if isinstance(expression, dict):
            (function, operand), = expression.items()
            if function == "Fn::And":
                return all(self._evaluate(e) for e in operand)
            if function == "Fn::Or":
                return any(self._evaluate(e) for e in operand)
            if function == "Fn::Not":
                return not self._evaluate(operand[0])
            if function == "Fn::Equals":
                return self._evaluate(operand[0]) == self._evaluate(operand[1])
            if function == "Condition":
                return self.condition(operand)
        return self.resolve(expression)

    def http_routes(self) -> list[Route]:
        routes = []
        for logical_id in self._of_type("AWS::Serverless::Function"):
            for event in self.resources[logical_id]["Properties"].get("Events", {}).values():
                if event["Type"] == "HttpApi":
                    props = event["Properties"]
                    routes.append(Route(props["Method"].upper(), props["Path"], logical_id, self._route_authorizer(props)))
        # As in API Gateway: literal segments win over parameters (/import/types before /import/{id}),
        # and a route's own method wins over ANY on the same path.
        # `$default` is the last resort.
        return sorted(routes, key=lambda r: (r.path == "$default", r.path.count("{"), r.method == "ANY"))

    def _route_authorizer(self, event_props: dict[str, Any]) -> str | None:
        """The function of a route's Lambda authorizer: its own Auth.Authorizer, else its API's DefaultAuthorizer (NONE: none)."""
        auth = self.resources[event_props["ApiId"]["Ref"]]["Properties"].get("Auth", {})
        name = event_props.get("Auth", {}).get("Authorizer", auth.get("DefaultAuthorizer"))
        if name in (None, "NONE"):
            return None
        config = auth["Authorizers"][name]
        if config.get("AuthorizerPayloadFormatVersion") != "2.0" or not config.get("EnableSimpleResponses"):
            raise ValueError(f"authorizer {name}: the local stack runs Lambda authorizers of payload 2.0 with simple responses only")
        return config["FunctionArn"]["Fn::GetAtt"][0]
