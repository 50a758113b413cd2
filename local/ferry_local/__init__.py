"""The local stack: template.yaml run on this machine with moto, no Docker, no AWS account."""
