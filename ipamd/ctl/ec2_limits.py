"""An instance type's interface limits, read with EC2 DescribeInstanceTypes for max-pods.

The only ctl module that touches boto3, and it imports boto3 (and the provider's error
mapping) inside :func:`lookup`: the other commands must start fast, and boto3 alone costs
most of a second. The client is the provider's (one attempt, our user agent) with
``--timeout`` as its connect and read timeouts. Every botocore error is mapped once, by
``providers.aws.errors.mapped``, and leaves as :class:`LookupFailed` with one line of text.
Credentials and the default region are found the way every AWS SDK finds them.
"""

from __future__ import annotations

from providers.models import InstanceLimits


class LookupFailed(Exception):
    """The limits could not be read: ``str()`` says why, in one line."""


def lookup(
    instance_type: str, *, region: str | None, endpoint_url: str | None, timeout: float
) -> InstanceLimits:
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    from providers.aws.errors import mapped  # noqa: PLC0415
    from providers.aws.factory import SDK_CONFIG  # noqa: PLC0415
    from providers.aws.limits import limits_from_info  # noqa: PLC0415
    from providers.errors import ProviderError  # noqa: PLC0415

    session = boto3.session.Session()
    region = region or session.region_name
    if not region:
        raise LookupFailed(
            "no AWS region: give --region (or set it as for the AWS CLI: AWS_REGION, "
            "AWS_DEFAULT_REGION or the AWS config file)"
        )
    config = SDK_CONFIG.merge(Config(connect_timeout=timeout, read_timeout=timeout))
    failed = f"cannot read the limits of {instance_type} from EC2 in {region}"
    try:
        ec2 = session.client("ec2", region_name=region, endpoint_url=endpoint_url, config=config)
        # the stubs allow only the type names they know; EC2 itself says whether it exists
        answer = ec2.describe_instance_types(InstanceTypes=[instance_type])  # type: ignore[list-item]
        found = answer.get("InstanceTypes")
        if not found:
            raise LookupFailed(f"{failed}: EC2 answered no such instance type")
        return limits_from_info(found[0])
    except (BotoCoreError, ClientError) as error:
        raise LookupFailed(f"{failed}: {mapped(error, 'DescribeInstanceTypes')}") from None
    except ProviderError as error:  # limits_from_info: the answer lacks a limit
        raise LookupFailed(f"{failed}: {error}") from None
    except ValueError as error:  # botocore refuses a malformed --endpoint-url this way
        raise LookupFailed(f"{failed}: {error}") from None
