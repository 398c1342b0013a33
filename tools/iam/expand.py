"""Each function's IAM policies as CloudFormation would create them from
template.yaml: the SAM transform (aws-sam-translator, the same library
`sam deploy` uses) expands the policy templates and adds what the event
sources and destinations need; intrinsic functions are then resolved with
every resource named by its logical id, in account 123456789012,
us-east-1 (how tests/least_privilege.rs names what the code touched).

Usage: expand.py TEMPLATE OUT.json
Writes {"functions": {FunctionLogicalId: {"authored": [policy...], "service": [policy...]}},
"resources": {ARN: resource policy}}, the resource policies being the KMS key
policies, bucket policies and queue policies (KMS honours an identity policy
only where the key policy delegates to IAM):
"authored" are the template's own `Policies` (what the least-privilege check
holds to "every grant is used"); "service" are those SAM adds for event
sources and destinations, which Lambda itself uses with the role.
"""

import json
import re
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ACCOUNT = "123456789012"
REGION = "us-east-1"


class NoManagedPolicies:
    def load(self):
        return {}


# The ARN of each resource type, by its logical id.
ARNS = {
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{logical}",
    "AWS::S3::Bucket": "arn:aws:s3:::{logical}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{logical}",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{logical}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{logical}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{logical}",
}


def arn_of(logical, rtype):
    pattern = ARNS.get(rtype, "arn:aws:unknown:{region}:{account}:{logical}")
    return pattern.format(region=REGION, account=ACCOUNT, logical=logical)


class Resolver:
    def __init__(self, template):
        self.resources = template.get("Resources", {})
        self.parameters = template.get("Parameters", {})
        self.conditions = template.get("Conditions", {})

    def ref(self, name):
        pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
                  "AWS::StackName": "stack", "AWS::URLSuffix": "amazonaws.com"}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return str(self.parameters[name].get("Default", f"param-{name}"))
        rtype = self.resources.get(name, {}).get("Type", "")
        if rtype == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        if rtype in ("AWS::SNS::Topic", "AWS::Lambda::Function"):
            return arn_of(name, rtype)
        return name

    def getatt(self, name, attr):
        rtype = self.resources.get(name, {}).get("Type", "")
        if attr == "Arn":
            return arn_of(name, rtype)
        if attr == "QueueName":
            return name
        if attr == "StreamArn":
            return f"{arn_of(name, rtype)}/stream/*"
        return f"{name}.{attr}"

    def condition(self, name):
        return self.evaluate(self.conditions[name])

    def evaluate(self, c):
        if isinstance(c, dict):
            (k, v), = c.items()
            if k == "Fn::Equals":
                return self.resolve(v[0]) == self.resolve(v[1])
            if k == "Fn::Not":
                return not self.evaluate(v[0])
            if k == "Fn::Or":
                return any(self.evaluate(x) for x in v)
            if k == "Fn::And":
                return all(self.evaluate(x) for x in v)
            if k == "Condition":
                return self.condition(v)
        raise ValueError(f"cannot evaluate condition {c!r}")

    def sub(self, text, variables):
        def one(m):
            name = m.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                res, attr = name.split(".", 1)
                return self.getatt(res, attr)
            return self.ref(name)
        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def resolve(self, v):
        if isinstance(v, list):
            return [x for x in (self.resolve(x) for x in v) if x is not NO_VALUE]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (k, a), = v.items()
            if k == "Ref":
                return NO_VALUE if a == "AWS::NoValue" else self.ref(a)
            if k == "Fn::GetAtt":
                res, attr = a if isinstance(a, list) else a.split(".", 1)
                return self.getatt(res, attr)
            if k == "Fn::Sub":
                text, variables = (a, {}) if isinstance(a, str) else (a[0], a[1])
                return self.sub(text, variables)
            if k == "Fn::Join":
                return a[0].join(str(x) for x in self.resolve(a[1]))
            if k == "Fn::If":
                return self.resolve(a[1] if self.condition(a[0]) else a[2])
        return {k: r for k, r in ((k, self.resolve(x)) for k, x in v.items()) if r is not NO_VALUE}


NO_VALUE = object()


def main(template_path, out_path):
    template = yaml_parse(open(template_path).read())
    for r in template["Resources"].values():
        if r["Type"] == "AWS::Serverless::Function":
            r["Properties"]["CodeUri"] = "s3://bucket/key"
    functions = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
    expanded = transform(template, {}, NoManagedPolicies())
    resolver = Resolver(expanded)
    out = {}
    for f in functions:
        role = expanded["Resources"][f"{f}Role"]["Properties"]
        authored, service = [], []
        for p in role.get("Policies", []):
            doc = resolver.resolve(p["PolicyDocument"])
            doc.setdefault("Version", "2012-10-17")
            (authored if re.fullmatch(rf"{f}RolePolicy\d+", p["PolicyName"]) else service).append(
                {"name": p["PolicyName"], "policy": doc})
        out[f] = {"authored": authored, "service": service,
                  "managed": resolver.resolve(role.get("ManagedPolicyArns", []))}
    resources = {}
    for logical, r in expanded["Resources"].items():
        props = r.get("Properties", {})
        if r["Type"] == "AWS::KMS::Key":
            resources[arn_of(logical, r["Type"])] = resolver.resolve(props["KeyPolicy"])
        elif r["Type"] == "AWS::S3::BucketPolicy":
            resources[f"arn:aws:s3:::{resolver.resolve(props['Bucket'])}"] = resolver.resolve(props["PolicyDocument"])
        elif r["Type"] == "AWS::SQS::QueuePolicy":
            for q in props["Queues"]:
                name = resolver.resolve(q).rsplit("/", 1)[-1]
                resources[arn_of(name, "AWS::SQS::Queue")] = resolver.resolve(props["PolicyDocument"])
    for doc in resources.values():
        doc.setdefault("Version", "2012-10-17")
    with open(out_path, "w") as fh:
        json.dump({"functions": out, "resources": resources}, fh, indent=1, sort_keys=True)
    print(f"{out_path}: the policies of {len(out)} functions and {len(resources)} resources")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
