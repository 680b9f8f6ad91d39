"""A masked secret is kept from the stored target with the same destination, wherever it
sits (masks.secret_source), and open_targets never lets the literal mask through."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from api.definitions.deliveries import open_targets
from api.definitions.masks import Kept, Refused, secret_source
from shared.deliveries.s3_kind import S3Kind
from shared.deliveries.sftp_kind import SftpKind
from shared.deliveries.targets import InvalidTarget
from shared.errors import InvalidParameters
from shared.secrets import MASK, seal

S3 = S3Kind()
SFTP = SftpKind()
KEY = Fernet.generate_key().decode()


def s3(bucket="acme", key_id="AKIA1", secret="s1", **more):
    return {
        "kind": "s3",
        "bucket": bucket,
        "endpointUrl": "https://s3.example.com",
        "accessKeyId": key_id,
        "secretAccessKey": secret,
        **more,
    }


def sftp(host="files.example.com", username="acme", **secret):
    return {"kind": "sftp", "host": host, "port": 22, "username": username, **secret}


EMAIL = {"kind": "email", "recipients": ["ops@example.com"]}


def test_the_same_place_with_the_same_destination_keeps_its_secret():
    stored = [s3(prefix="old")]
    assert secret_source(S3, s3(secret=MASK, prefix="new"), 0, "secretAccessKey", stored) == Kept(0)


def test_reordered_targets_each_keep_their_own_secret():
    stored = [s3(bucket="one", secret="s1"), s3(bucket="two", secret="s2")]
    sent = [s3(bucket="two", secret=MASK), s3(bucket="one", secret=MASK)]
    assert [secret_source(S3, t, i, "secretAccessKey", stored) for i, t in enumerate(sent)] == [
        Kept(1),
        Kept(0),
    ]


def test_a_target_that_moves_up_after_a_removal_keeps_its_secret():
    stored = [EMAIL, s3(bucket="gone", secret="s0"), sftp(password="p")]
    assert secret_source(SFTP, sftp(password=MASK), 0, "password", stored) == Kept(2)


def test_what_is_no_identity_may_change_and_identity_is_compared_canonically():
    stored = [s3(prefix="a", region="eu-west-1", keyTemplate="{fileName}")]
    sent = s3(secret=MASK, prefix="b", region="us-east-1", endpointUrl="https://S3.Example.com/")
    assert secret_source(S3, sent, 0, "secretAccessKey", stored) == Kept(0)
    moved = sftp(host="FILES.example.com.", password=MASK, path="/elsewhere")
    assert secret_source(SFTP, {**moved, "port": None}, 0, "password", [sftp(password="p")]) == (
        Kept(0)
    )


@pytest.mark.parametrize(
    "sent",
    [
        s3(key_id="AKIA2", secret=MASK),
        s3(bucket="other", secret=MASK),
        s3(secret=MASK, endpointUrl="https://elsewhere.example.com"),
    ],
    ids=["access key", "bucket", "endpoint"],
)
def test_a_changed_s3_identity_is_refused_even_at_the_same_place(sent):
    refused = secret_source(S3, sent, 0, "secretAccessKey", [s3()])
    assert refused == Refused(
        "enter the secret access key again: no saved target with this endpoint, bucket and "
        "access key"
    )


@pytest.mark.parametrize(
    "sent",
    [sftp(host="other.example.com"), sftp(username="root"), {**sftp(), "port": 2222}],
    ids=["host", "username", "port"],
)
def test_a_changed_sftp_identity_is_refused(sent):
    refused = secret_source(SFTP, {**sent, "password": MASK}, 0, "password", [sftp(password="p")])
    assert isinstance(refused, Refused)
    assert "enter the password again" in refused.message


def test_a_mask_for_the_other_sftp_secret_is_refused():
    stored = [sftp(password="p", privateKey=None)]
    refused = secret_source(SFTP, sftp(privateKey=MASK), 0, "privateKey", stored)
    assert refused == Refused(
        "enter the private key again: the saved target with this host, port and username has none"
    )


def test_another_kind_at_the_same_place_is_no_match():
    stored = [sftp(host="acme", username="AKIA1", password="p")]
    assert isinstance(secret_source(S3, s3(secret=MASK), 0, "secretAccessKey", stored), Refused)


def test_two_identical_destinations_with_one_secret_either_will_do():
    stored = [EMAIL, s3(prefix="a"), s3(prefix="b")]
    assert secret_source(S3, s3(secret=MASK), 0, "secretAccessKey", stored) == Kept(1)


def test_two_identical_destinations_with_different_secrets_keep_the_same_place_or_refuse():
    stored = [s3(prefix="a", secret="s1"), s3(prefix="b", secret="s2")]
    sent = s3(secret=MASK)
    assert secret_source(S3, sent, 1, "secretAccessKey", stored) == Kept(1)
    refused = secret_source(S3, sent, 2, "secretAccessKey", stored)
    assert isinstance(refused, Refused)
    assert "hold different ones" in refused.message


def test_a_malformed_identity_is_the_kinds_own_refusal():
    with pytest.raises(InvalidTarget) as refused:
        secret_source(SFTP, sftp(host="not a host", password=MASK), 0, "password", [])
    assert refused.value.field == "host"


# open_targets: the decision applied, with sealed secrets


def sealed(target):
    kind = S3 if target["kind"] == "s3" else SFTP
    return seal(target, kind.secret_fields, KEY)


def test_open_targets_keeps_each_secret_in_the_clear_after_a_reorder():
    stored = [sealed(s3(bucket="one", secret="s1")), sealed(s3(bucket="two", secret="s2"))]
    sent = [EMAIL, s3(bucket="two", secret=MASK), s3(bucket="one", secret=MASK)]
    opened = open_targets(sent, stored, KEY)
    assert [t.get("secretAccessKey") for t in opened] == [None, "s2", "s1"]


def test_open_targets_compares_secrets_opened_not_sealed():
    # Sealed twice, one secret makes two different tokens: still the same secret.
    stored = [sealed(s3(prefix="a", secret="s1")), sealed(s3(prefix="b", secret="s1"))]
    opened = open_targets([EMAIL, EMAIL, s3(secret=MASK)], stored, KEY)
    assert opened[2]["secretAccessKey"] == "s1"


def test_open_targets_refuses_a_mask_without_a_matching_target_naming_the_member():
    stored = [sealed(s3())]
    with pytest.raises(InvalidParameters) as refused:
        open_targets([EMAIL, s3(key_id="AKIA2", secret=MASK)], stored, KEY)
    assert list(refused.value.field_errors) == ["deliveries.1.secretAccessKey"]


def test_open_targets_names_the_key_when_the_kept_secret_cannot_be_opened():
    stored = [sealed(s3())]
    with pytest.raises(InvalidParameters) as refused:
        open_targets([s3(secret=MASK)], stored, Fernet.generate_key().decode())
    (messages,) = refused.value.field_errors.values()
    assert MASK not in str(messages) and "another key" in messages[0]
