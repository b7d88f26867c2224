"""Cloud adapters behind one Protocol (providers.base): AWS (boto3 + IMDSv2), GCE later.

Each adapter maps its SDK's errors once, at the edge, to providers.errors, and every call to
the cloud goes through the shared rate limiter and retry policy.
"""
