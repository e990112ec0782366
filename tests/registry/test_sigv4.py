"""SigV4 against AWS's published examples, and differentially against botocore's signer."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.registry.providers._sigv4 import sign_v4
from tests.components import unavailable

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def test_aws_suite_get_vanilla() -> None:
    # AWS Signature V4 test suite, "get-vanilla".
    headers = sign_v4(
        method="GET",
        url="https://example.amazonaws.com/",
        headers={"Host": "example.amazonaws.com"},
        body=b"",
        access_key_id="AKIDEXAMPLE",
        secret_access_key=SECRET,
        region="us-east-1",
        service="service",
        amz_date="20150830T123600Z",
    )
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_aws_documentation_iam_list_users() -> None:
    # The worked example of the AWS SigV4 documentation (IAM ListUsers).
    headers = sign_v4(
        method="GET",
        url="https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Host": "iam.amazonaws.com",
        },
        body=b"",
        access_key_id="AKIDEXAMPLE",
        secret_access_key=SECRET,
        region="us-east-1",
        service="iam",
        amz_date="20150830T123600Z",
    )
    assert headers["Authorization"].endswith(
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    )


def _botocore_sign(
    *,
    url: str,
    headers: dict[str, str],
    body: bytes,
    key: str,
    secret: str,
    token: str | None,
    region: str,
    amz_date: str,
) -> dict[str, str]:
    try:
        from botocore import auth, awsrequest, credentials
    except ImportError:  # the oracle is a test dependency; under CI=true its absence fails
        unavailable("botocore (the SigV4 oracle) is not installed: pip install botocore")
    request = awsrequest.AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    signer = auth.SigV4Auth(credentials.Credentials(key, secret, token), "ecr", region)
    fixed = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    from unittest import mock  # only to freeze botocore's clock, not to fake behaviour

    with mock.patch("botocore.auth.get_current_datetime", return_value=fixed):
        signer.add_auth(request)
    return {k: str(v) for k, v in request.headers.items()}


@settings(max_examples=40, deadline=None)
@given(
    body=st.binary(max_size=200),
    target=st.sampled_from(
        [
            "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
            "AmazonEC2ContainerRegistry_V20150921.DescribeImages",
        ]
    ),
    region=st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"]),
    token=st.one_of(st.none(), st.text(alphabet="ABCDEFabcdef0123456789/+=", min_size=10, max_size=60)),
    when=st.datetimes(min_value=dt.datetime(2015, 1, 1), max_value=dt.datetime(2035, 1, 1)),
    query=st.sampled_from(["", "a=1", "b=x%20y&a=2", "Action=List&Version=2010-05-08"]),
)
def test_differential_against_botocore(
    body: bytes, target: str, region: str, token: str | None, when: dt.datetime, query: str
) -> None:
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    url = f"https://api.ecr.{region}.amazonaws.com/" + (f"?{query}" if query else "")
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}
    ours = sign_v4(
        method="POST",
        url=url,
        headers=headers,
        body=body,
        access_key_id="AKIAEXAMPLEKEY123456",
        secret_access_key=SECRET,
        region=region,
        service="ecr",
        amz_date=amz_date,
        session_token=token,
    )
    theirs = _botocore_sign(
        url=url,
        headers=headers,
        body=body,
        key="AKIAEXAMPLEKEY123456",
        secret=SECRET,
        token=token,
        region=region,
        amz_date=amz_date,
    )
    assert ours["Authorization"] == theirs["Authorization"]
