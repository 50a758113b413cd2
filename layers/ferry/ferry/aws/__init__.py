"""The AWS adapters of the ports: DynamoDB tables, S3 files, Step Functions. The only place boto3 is used."""
