"""The s3 and sftp delivery kinds' pure rules: each member's validation, the key template,
the host key fingerprint, and what a store's answer means for a delivery."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from pathlib import Path

import asyncssh
import botocore.exceptions
import pytest

from shared.deliveries import fields, s3_kind, sftp_kind
from shared.deliveries.targets import (
    InvalidTarget,
    PermanentDeliveryFailure,
    TransientDeliveryFailure,
)
from shared.storage import StorageUnavailable

S3 = {"bucket": "customer-reports", "accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "s3cret"}
FINGERPRINT = "SHA256:" + base64.b64encode(hashlib.sha256(b"key").digest()).decode().rstrip("=")
SFTP = {
    "host": "sftp.example.com",
    "username": "acme",
    "password": "pw",
    "hostKeySha256": FINGERPRINT,
}


def refused_field(validate, target) -> str:
    with pytest.raises(InvalidTarget) as refused:
        validate(target)
    return refused.value.field


# --- members shared by the kinds


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({}, "is required"),
        ({"name": None}, "is required"),
        ({"name": 3}, "must be a string"),
        ({"name": ""}, "must not be empty"),
        ({"name": "x" * 11}, "at most 10"),
        ({"name": "a\nb"}, "control characters"),
        ({"name": "a\x7fb"}, "control characters"),
    ],
)
def test_a_text_member_is_refused_with_a_reason(target, message):
    with pytest.raises(InvalidTarget) as refused:
        fields.text(target, "name", max_length=10)

    assert refused.value.field == "name"
    assert message in refused.value.message


def test_a_text_member_has_its_default_and_may_be_empty_where_allowed():
    assert fields.text({}, "name", max_length=10, default="d") == "d"
    assert fields.text({"name": ""}, "name", max_length=10, allow_empty=True) == ""
    assert fields.optional_text({"name": None}, "name", max_length=10) is None


@pytest.mark.parametrize("value", [0, 65536, -1, "22", True, 22.0])
def test_a_port_is_a_whole_number_of_a_port(value):
    with pytest.raises(InvalidTarget):
        fields.port({"port": value}, "port", 22)


def test_a_port_defaults():
    assert fields.port({}, "port", 22) == 22
    assert fields.port({"port": None}, "port", 22) == 22
    assert fields.port({"port": 2222}, "port", 22) == 2222


@pytest.mark.parametrize("kind", [s3_kind.KIND, sftp_kind.KIND])
def test_an_unknown_member_is_refused_by_name(kind):
    target = (S3 if kind.name == "s3" else SFTP) | {"bukcet": "x"}

    assert refused_field(kind.validate, target) == "bukcet"


@pytest.mark.parametrize("kind", [s3_kind.KIND, sftp_kind.KIND])
def test_the_kinds_are_for_admins_and_keep_their_secrets(kind):
    assert kind.admin_only
    assert kind.secret_fields == (
        {"secretAccessKey"} if kind.name == "s3" else {"password", "privateKey"}
    )


# --- s3


def test_an_s3_target_gets_its_defaults():
    assert s3_kind.KIND.validate(S3 | {"kind": "s3"}) == {
        "kind": "s3",
        "bucket": "customer-reports",
        "prefix": "",
        "endpointUrl": None,
        "region": "us-east-1",
        "accessKeyId": "AKIAEXAMPLE",
        "secretAccessKey": "s3cret",
        "keyTemplate": "{definitionName}/{scheduledDate}/{fileName}",
    }


@pytest.mark.parametrize("bucket", ["abc", "my.reports-2026", "a" * 63, "0ab"])
def test_an_s3_bucket_name_is_accepted(bucket):
    assert s3_kind.KIND.validate(S3 | {"bucket": bucket})["bucket"] == bucket


@pytest.mark.parametrize(
    "bucket",
    ["ab", "a" * 64, "Reports", "-abc", "abc-", "a..b", "a_b", "192.168.0.1", "a b", "a/b"],
)
def test_an_s3_bucket_name_is_refused(bucket):
    assert refused_field(s3_kind.KIND.validate, S3 | {"bucket": bucket}) == "bucket"


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("https://S3.Example.COM", "https://s3.example.com"),
        ("https://s3.example.com/", "https://s3.example.com"),
        ("https://s3.example.com:443", "https://s3.example.com"),
        ("https://s3.example.com:9000", "https://s3.example.com:9000"),
        ("http://minio:80", "http://minio"),
        ("https://[::1]:9000", "https://[::1]:9000"),
    ],
)
def test_an_endpoint_is_kept_as_its_base_url(given, canonical):
    assert s3_kind.canonical_endpoint(given) == canonical


@pytest.mark.parametrize(
    "url",
    [
        "s3.example.com",
        "ftp://s3.example.com",
        "https://",
        "https://key:secret@s3.example.com",
        "https://s3.example.com/bucket",
        "https://s3.example.com?x=1",
        "https://s3.example.com#x",
        "https://s3.example.com:99999",
    ],
)
def test_an_endpoint_that_is_not_a_base_url_is_refused(url):
    assert refused_field(s3_kind.KIND.validate, S3 | {"endpointUrl": url}) == "endpointUrl"


def test_http_is_allowed_only_to_our_own_store_or_when_allowed():
    target = S3 | {"endpointUrl": "http://seaweedfs:8333/"}
    own = s3_kind.S3Kind(own_store=s3_kind.OwnStore("http://seaweedfs:8333"))

    assert refused_field(s3_kind.KIND.validate, target) == "endpointUrl"
    assert own.validate(target)["endpointUrl"] == "http://seaweedfs:8333"
    assert refused_field(own.validate, target | {"endpointUrl": "http://other:8333"}) == (
        "endpointUrl"
    )
    assert s3_kind.S3Kind(allow_http=True).validate(target)["endpointUrl"] == (
        "http://seaweedfs:8333"
    )


@pytest.mark.parametrize(
    ("endpoint", "own", "same"),
    [
        (None, None, False),  # our store unknown: never copied server-side
        (None, s3_kind.OwnStore(None), True),  # both AWS
        ("https://s3.example.com", s3_kind.OwnStore(None), False),
        ("https://s3.example.com", s3_kind.OwnStore("https://S3.example.com:443/"), True),
        ("https://s3.example.com", s3_kind.OwnStore("https://s3.example.com:9000"), False),
    ],
)
def test_a_copy_is_server_side_only_within_our_own_store(endpoint, own, same):
    assert s3_kind.same_store(endpoint, own) is same


def test_for_settings_knows_our_store():
    class Settings:
        s3_endpoint_url = "http://127.0.0.1:8333"

    kind = s3_kind.for_settings(Settings())  # type: ignore[arg-type]

    assert kind.own_store == s3_kind.OwnStore("http://127.0.0.1:8333")
    assert not kind.allow_http


@pytest.mark.parametrize("region", ["eu-west-1", "us-gov-west-1", "garage"])
def test_a_region_is_accepted(region):
    assert s3_kind.KIND.validate(S3 | {"region": region})["region"] == region


@pytest.mark.parametrize("region", ["EU-WEST-1", "eu west", "", "a" * 33])
def test_a_region_is_refused(region):
    assert refused_field(s3_kind.KIND.validate, S3 | {"region": region}) == "region"


@pytest.mark.parametrize("member", ["bucket", "accessKeyId", "secretAccessKey"])
def test_an_s3_target_needs_its_bucket_and_keys(member):
    target = {key: value for key, value in S3.items() if key != member}

    assert refused_field(s3_kind.KIND.validate, target) == member


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("", ""), ("exports", "exports"), ("/exports/daily/", "exports/daily"), ("a b/c", "a b/c")],
)
def test_a_prefix_is_a_folder_without_slashes_at_its_ends(given, canonical):
    assert s3_kind.KIND.validate(S3 | {"prefix": given})["prefix"] == canonical


@pytest.mark.parametrize("prefix", ["a/../b", "..", "a//b", "./a", "a\tb"])
def test_an_unsafe_prefix_is_refused(prefix):
    assert refused_field(s3_kind.KIND.validate, S3 | {"prefix": prefix}) == "prefix"


@pytest.mark.parametrize(
    "template",
    [
        "{fileName}",
        "latest.csv",
        "{definitionName}/{scheduledDate}/{fileName}",
        "daily/{scheduledDate}-{fileName}",
        "{{literal}}/{fileName}",
    ],
)
def test_a_key_template_is_accepted(template):
    assert s3_kind.KIND.validate(S3 | {"keyTemplate": template})["keyTemplate"] == template


@pytest.mark.parametrize(
    "template",
    [
        "{reportId}/{fileName}",
        "{}",
        "{0}",
        "{fileName!r}",
        "{fileName:>20}",
        "{definitionName.upper}",
        "{fileName",
        "fileName}",
        "/{fileName}",
        "../{fileName}",
        "{scheduledDate}/../{fileName}",
        "a//{fileName}",
        "{fileName}/",
        "",
        "x" * 513,
    ],
)
def test_a_key_template_is_refused(template):
    assert refused_field(s3_kind.KIND.validate, S3 | {"keyTemplate": template}) == "keyTemplate"


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("Weekly sales", "Weekly sales"),
        ("a/../b", "a-..-b"),
        ("..", "_"),
        (".", "_"),
        ("", "_"),
        ("back\\slash", "back-slash"),
        ("tab\there", "tabhere"),
        ("Ünïcode", "Ünïcode"),
    ],
)
def test_a_placeholder_value_is_one_segment_of_the_key(value, segment):
    assert s3_kind.key_segment(value) == segment


def test_a_key_is_rendered_under_the_prefix():
    values = {"definitionName": "../up", "scheduledDate": "2026-12-05", "fileName": "a.csv"}

    assert s3_kind.render_key("exports", s3_kind.DEFAULT_KEY_TEMPLATE, values) == (
        "exports/..-up/2026-12-05/a.csv"
    )
    assert s3_kind.render_key("", "{fileName}", values) == "a.csv"


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("a/b.csv", None),
        ("", "empty"),
        ("/a", "start with /"),
        ("a/../b", "segments"),
        ("a/./b", "segments"),
        ("a//b", "segments"),
        ("a/", "segments"),
        ("é" * 513, "1024 bytes"),
    ],
)
def test_an_unsafe_key_is_told(key, problem):
    found = s3_kind.key_problem(key)

    assert found is None if problem is None else problem in found


def test_a_rendered_key_too_long_fails_the_delivery_permanently():
    from tests.integration.delivery_helpers import delivered_file

    target = s3_kind.KIND.validate(S3)
    long_name = delivered_file(b"x", definition_name="n" * 1100)

    with pytest.raises(PermanentDeliveryFailure):
        s3_kind.delivered_key(target, long_name)


def test_copy_ranges_cover_the_file_once_in_order():
    assert s3_kind.copy_ranges(10, 4) == ["bytes=0-3", "bytes=4-7", "bytes=8-9"]
    assert s3_kind.copy_ranges(8, 4) == ["bytes=0-3", "bytes=4-7"]
    assert s3_kind.copy_ranges(1, 4) == ["bytes=0-0"]


def test_parts_grow_so_that_ten_thousand_hold_the_file():
    tib = 1024 * s3_kind.GiB

    assert s3_kind.copy_part_bytes(6 * s3_kind.GiB, 512 * s3_kind.MiB) == 512 * s3_kind.MiB
    assert s3_kind.copy_part_bytes(5 * tib, 512 * s3_kind.MiB) * 10_000 >= 5 * tib
    assert s3_kind.stream_part_bytes(1000) == 8 * s3_kind.MiB
    assert s3_kind.stream_part_bytes(5 * tib) * 10_000 >= 5 * tib


def client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (client_error("SlowDown", 503), TransientDeliveryFailure),
        (client_error("ServiceUnavailable", 503), TransientDeliveryFailure),
        (client_error("InternalError", 500), TransientDeliveryFailure),
        (client_error("RequestTimeout", 400), TransientDeliveryFailure),
        (client_error("TooManyRequests", 429), TransientDeliveryFailure),
        (client_error("NoSuchBucket", 404), PermanentDeliveryFailure),
        (client_error("AccessDenied", 403), PermanentDeliveryFailure),
        (client_error("InvalidAccessKeyId", 403), PermanentDeliveryFailure),
        (client_error("SignatureDoesNotMatch", 403), PermanentDeliveryFailure),
        (client_error("EntityTooLarge", 400), PermanentDeliveryFailure),
        (
            botocore.exceptions.EndpointConnectionError(endpoint_url="https://x"),
            TransientDeliveryFailure,
        ),
        (
            botocore.exceptions.ConnectTimeoutError(endpoint_url="https://x"),
            TransientDeliveryFailure,
        ),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="https://x"), TransientDeliveryFailure),
        (
            botocore.exceptions.ConnectionClosedError(endpoint_url="https://x"),
            TransientDeliveryFailure,
        ),
        (StorageUnavailable("our store"), TransientDeliveryFailure),
        (botocore.exceptions.NoCredentialsError(), PermanentDeliveryFailure),
    ],
)
def test_what_a_failed_request_means_for_the_delivery(error, outcome):
    assert type(s3_kind.failure(error)) is outcome


@pytest.mark.parametrize(
    ("code", "status", "field"),
    [
        ("NoSuchBucket", 404, "bucket"),
        ("404", 404, "bucket"),
        ("InvalidAccessKeyId", 403, "accessKeyId"),
        ("AccessDenied", 403, "accessKeyId"),
        ("403", 403, "accessKeyId"),
        ("SignatureDoesNotMatch", 403, "secretAccessKey"),
        ("AuthorizationHeaderMalformed", 400, "region"),
        ("PermanentRedirect", 301, "region"),
        ("SlowDown", 503, "endpointUrl"),
        ("InvalidRequest", 400, "bucket"),
    ],
)
def test_a_refusal_at_save_names_the_member_most_likely_at_fault(code, status, field):
    assert s3_kind.field_at_fault(code, status) == field


def test_access_denied_is_told_with_or_without_a_code():
    assert s3_kind.access_denied("AccessDenied", 403)
    assert s3_kind.access_denied("403", 403)
    assert not s3_kind.access_denied("NoSuchBucket", 404)


# --- sftp


def test_an_sftp_target_gets_its_defaults():
    assert sftp_kind.KIND.validate(SFTP) == {
        "kind": "sftp",
        "host": "sftp.example.com",
        "port": 22,
        "username": "acme",
        "password": "pw",
        "privateKey": None,
        "hostKeySha256": FINGERPRINT,
        "path": ".",
    }


def test_the_fingerprint_is_the_one_ssh_tools_print(tmp_path: Path):
    key = asyncssh.generate_private_key("ssh-ed25519")

    assert sftp_kind.fingerprint(key.public_data) == key.get_fingerprint("sha256")
    if shutil.which("ssh-keygen"):
        public = tmp_path / "key.pub"
        key.write_public_key(public)
        printed = subprocess.run(
            ["ssh-keygen", "-lf", str(public)], capture_output=True, text=True, check=True
        ).stdout.split()[1]
        assert sftp_kind.fingerprint(key.public_data) == printed


@pytest.mark.parametrize(
    "value",
    [
        FINGERPRINT + "=",  # padded
        FINGERPRINT[len("SHA256:") :],  # without its algorithm
        "sha256:" + FINGERPRINT[len("SHA256:") :],
        "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48",
        FINGERPRINT[:-1],
        FINGERPRINT + "A",
        FINGERPRINT[:-1] + "B",  # spare bits set: not a digest's encoding
        FINGERPRINT[:-1] + "-",  # base64url, not base64
        "SHA256: " + FINGERPRINT[len("SHA256:") :],
    ],
)
def test_a_host_key_fingerprint_not_as_ssh_keygen_prints_it_is_refused(value):
    assert refused_field(sftp_kind.KIND.validate, SFTP | {"hostKeySha256": value}) == (
        "hostKeySha256"
    )


def test_a_host_key_fingerprint_is_required():
    target = {key: value for key, value in SFTP.items() if key != "hostKeySha256"}

    assert refused_field(sftp_kind.KIND.validate, target) == "hostKeySha256"


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("SFTP.Example.com", "sftp.example.com"),
        ("files.example.com.", "files.example.com"),
        ("localhost", "localhost"),
        ("192.0.2.7", "192.0.2.7"),
        ("2001:DB8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
    ],
)
def test_a_host_is_a_name_or_an_address(given, canonical):
    assert sftp_kind.KIND.validate(SFTP | {"host": given})["host"] == canonical


@pytest.mark.parametrize(
    "host", ["sftp.example.com:22", "user@host", "a b", "-host", "host-", "a..b", "x" * 254, ""]
)
def test_a_host_that_is_neither_is_refused(host):
    assert refused_field(sftp_kind.KIND.validate, SFTP | {"host": host}) == "host"


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("/upload/", "/upload"), ("/", "/"), ("upload/daily", "upload/daily"), ("///", "/")],
)
def test_a_path_is_a_directory_without_a_trailing_slash(given, canonical):
    assert sftp_kind.KIND.validate(SFTP | {"path": given})["path"] == canonical


@pytest.mark.parametrize("path", ["C:\\upload", "a\nb", ""])
def test_a_path_is_refused(path):
    assert refused_field(sftp_kind.KIND.validate, SFTP | {"path": path}) == "path"


def test_exactly_one_of_password_and_private_key():
    key = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    neither = {name: value for name, value in SFTP.items() if name != "password"}

    assert refused_field(sftp_kind.KIND.validate, neither) == "password"
    assert refused_field(sftp_kind.KIND.validate, SFTP | {"privateKey": key}) == "password"
    assert sftp_kind.KIND.validate(neither | {"privateKey": key})["privateKey"] == key


@pytest.mark.parametrize(
    ("algorithm", "form"),
    [
        ("ssh-ed25519", "openssh"),
        ("ssh-ed25519", "pkcs8-pem"),
        ("ecdsa-sha2-nistp256", "openssh"),
        ("ecdsa-sha2-nistp384", "pkcs1-pem"),
        ("ecdsa-sha2-nistp521", "pkcs8-pem"),
        ("ssh-rsa", "openssh"),
        ("ssh-rsa", "pkcs1-pem"),
    ],
)
def test_a_private_key_is_read_in_each_form(algorithm, form):
    # Several keys of each: paramiko's own OpenSSH reader refused about half the ECDSA ones.
    for _ in range(1 if algorithm == "ssh-rsa" else 8):
        key = asyncssh.generate_private_key(algorithm)

        assert sftp_kind.private_key(key.export_private_key(form).decode()).asbytes() == (
            key.public_data
        )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not a key", "private key in OpenSSH or PEM form"),
        (
            asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode(),
            "private key in OpenSSH or PEM form",
        ),
        (
            asyncssh.generate_private_key("ssh-ed25519")
            .export_private_key("openssh", passphrase="secret")
            .decode(),
            "passphrase",
        ),
        (
            asyncssh.generate_private_key("ecdsa-sha2-nistp256")
            .export_private_key("pkcs8-pem", passphrase="secret")
            .decode(),
            "passphrase",
        ),
    ],
)
def test_a_private_key_that_cannot_be_used_is_refused(text, message):
    target = {name: value for name, value in SFTP.items() if name != "password"}

    with pytest.raises(InvalidTarget) as refused:
        sftp_kind.KIND.validate(target | {"privateKey": text})

    assert refused.value.field == "privateKey"
    assert message in refused.value.message


@pytest.mark.parametrize(
    ("path", "file_name", "final"),
    [
        ("/upload", "a.csv", "/upload/a.csv"),
        ("/", "a.csv", "/a.csv"),
        (".", "a.csv", "./a.csv"),
    ],
)
def test_the_file_is_written_beside_its_final_name(path, file_name, final):
    assert sftp_kind.remote_paths({"path": path}, file_name) == (final, f"{final}.part")


@pytest.mark.parametrize("file_name", ["../a.csv", "a/b.csv", "..", ""])
def test_a_file_name_that_would_leave_the_directory_fails_permanently(file_name):
    with pytest.raises(PermanentDeliveryFailure):
        sftp_kind.remote_paths({"path": "/upload"}, file_name)
