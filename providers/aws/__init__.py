"""The AWS provider: EC2 through boto3, node identity and interfaces through IMDSv2."""
