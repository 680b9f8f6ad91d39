"""TokenVerifier without HTTP: the key is checked once at start, refusals never quote the token."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from api.auth import TokenVerifier
from api.errors import refusal_problem
from shared.config import ConfigError, Settings
from shared.errors import NotAuthenticated

SECRET = "k" * 32


def pem(public_key) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
P256_KEY = ec.generate_private_key(ec.SECP256R1())
P384_KEY = ec.generate_private_key(ec.SECP384R1())
RSA_PRIVATE_PEM = RSA_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()


@pytest.mark.parametrize(
    ("algorithm", "key"),
    [
        pytest.param("RS256", "not a pem", id="not a PEM"),
        pytest.param("RS256", RSA_PRIVATE_PEM, id="a private key"),
        pytest.param("RS256", pem(P256_KEY.public_key()), id="an EC key for RS256"),
        pytest.param("ES256", pem(RSA_KEY.public_key()), id="an RSA key for ES256"),
        pytest.param("ES256", pem(P384_KEY.public_key()), id="a P-384 key for ES256"),
    ],
)
def test_a_public_key_that_cannot_verify_the_configured_algorithm_stops_the_start(algorithm, key):
    with pytest.raises(ConfigError):
        TokenVerifier(Settings(jwt_public_key=key, jwt_algorithm=algorithm))


def test_without_a_key_the_api_does_not_start():
    with pytest.raises(ConfigError):
        TokenVerifier(Settings())


@pytest.mark.parametrize(
    ("algorithm", "private_key"), [("RS256", RSA_KEY), ("ES256", P256_KEY), ("ES384", P384_KEY)]
)
def test_a_matching_public_key_verifies(algorithm, private_key):
    settings = Settings(jwt_public_key=pem(private_key.public_key()), jwt_algorithm=algorithm)
    token = jwt.encode(claims(settings), private_key, algorithm=algorithm)

    principal = TokenVerifier(settings).verify(token)

    assert (principal.user_id, principal.org, principal.roles) == ("u1", "acme", {"admin"})


def claims(settings: Settings, **overrides: object) -> dict:
    now = int(time.time())
    return {
        "sub": "u1",
        "org": "acme",
        "roles": ["admin"],
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "exp": now + 60,
        **overrides,
    }


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"exp": 1}, "expired"),
        ({"aud": "elsewhere"}, "audience"),
        ({"iss": "elsewhere"}, "issuer"),
        ({"org": None}, "org"),
        ({"roles": "admin"}, "roles"),
    ],
)
def test_a_refusal_says_why_without_quoting_the_token(overrides, detail):
    settings = Settings(jwt_secret=SECRET)
    token = jwt.encode(
        {k: v for k, v in claims(settings, **overrides).items() if v is not None}, SECRET
    )

    with pytest.raises(NotAuthenticated) as refused:
        TokenVerifier(settings).verify(token)

    answer = refusal_problem(refused.value)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert detail in refused.value.detail
    assert not any(part in refused.value.detail for part in token.split("."))


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_a_token_from_a_clock_20_seconds_ahead_is_accepted_within_the_leeway(claim):
    settings = Settings(jwt_secret=SECRET)
    token = jwt.encode(claims(settings, **{claim: int(time.time()) + 20}), SECRET)

    assert TokenVerifier(settings).verify(token).user_id == "u1"


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_a_token_from_beyond_the_leeway_is_not_valid_yet(claim):
    settings = Settings(jwt_secret=SECRET, jwt_leeway_seconds=10)
    token = jwt.encode(claims(settings, **{claim: int(time.time()) + 20}), SECRET)

    with pytest.raises(NotAuthenticated) as refused:
        TokenVerifier(settings).verify(token)

    assert refusal_problem(refused.value).status_code == 401


def test_a_token_expired_within_the_leeway_is_still_accepted_and_beyond_it_refused():
    settings = Settings(jwt_secret=SECRET)
    just_expired = jwt.encode(claims(settings, exp=int(time.time()) - 10), SECRET)
    long_expired = jwt.encode(claims(settings, exp=int(time.time()) - 120), SECRET)

    assert TokenVerifier(settings).verify(just_expired).user_id == "u1"
    with pytest.raises(NotAuthenticated):
        TokenVerifier(settings).verify(long_expired)


def test_during_a_key_rotation_tokens_signed_with_either_published_key_verify():
    old, new = rsa.generate_private_key(65537, 2048), rsa.generate_private_key(65537, 2048)
    settings = Settings(jwt_public_key=pem(old.public_key()) + pem(new.public_key()))
    verifier = TokenVerifier(settings)

    for key in (old, new):
        assert verifier.verify(jwt.encode(claims(settings), key, algorithm="RS256")).org == "acme"
    stranger = rsa.generate_private_key(65537, 2048)
    with pytest.raises(NotAuthenticated) as refused:
        verifier.verify(jwt.encode(claims(settings), stranger, algorithm="RS256"))
    assert "signature" in refused.value.detail


def test_an_expired_token_is_refused_as_expired_whichever_key_signed_it():
    old, new = rsa.generate_private_key(65537, 2048), rsa.generate_private_key(65537, 2048)
    settings = Settings(jwt_public_key=pem(old.public_key()) + pem(new.public_key()))
    token = jwt.encode(claims(settings, exp=int(time.time()) - 600), new, algorithm="RS256")

    with pytest.raises(NotAuthenticated) as refused:
        TokenVerifier(settings).verify(token)

    assert "expired" in refused.value.detail
