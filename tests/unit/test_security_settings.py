"""Token and CSV settings: the algorithm follows the key, and mismatches are refused."""

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from shared.config import (
    DEVELOPMENT_DELIVERY_SECRETS_KEYS,
    DEVELOPMENT_JWT_SECRETS,
    ConfigError,
    Settings,
)

ROOT = Path(__file__).resolve().parents[2]

SECRET = "s" * 32
PEM = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"


@pytest.mark.parametrize(
    ("environ", "algorithm"),
    [
        ({}, "HS256"),
        ({"JWT_SECRET": SECRET}, "HS256"),
        ({"JWT_SECRET": SECRET, "JWT_ALGORITHM": "HS512"}, "HS512"),
        ({"JWT_PUBLIC_KEY": PEM}, "RS256"),
        ({"JWT_PUBLIC_KEY": PEM, "JWT_ALGORITHM": "ES256"}, "ES256"),
        ({"JWT_PUBLIC_KEY": PEM, "JWT_ALGORITHM": "RS512"}, "RS512"),
    ],
)
def test_the_algorithm_is_configured_and_defaults_to_rs256_with_a_public_key(environ, algorithm):
    assert Settings.from_env(environ).jwt_algorithm == algorithm


def test_settings_built_in_code_resolve_the_algorithm_the_same_way():
    assert Settings(jwt_public_key=PEM).jwt_algorithm == "RS256"
    assert Settings(jwt_secret=SECRET).jwt_algorithm == "HS256"


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({"JWT_SECRET": SECRET, "JWT_PUBLIC_KEY": PEM}, id="both keys"),
        pytest.param({"JWT_PUBLIC_KEY": PEM, "JWT_ALGORITHM": "HS256"}, id="HS256 with a PEM"),
        pytest.param({"JWT_SECRET": SECRET, "JWT_ALGORITHM": "RS256"}, id="RS256 with a secret"),
        pytest.param({"JWT_SECRET": SECRET, "JWT_ALGORITHM": "ES384"}, id="ES384 with a secret"),
        pytest.param({"JWT_SECRET": SECRET, "JWT_ALGORITHM": "none"}, id="alg none"),
        pytest.param({"JWT_SECRET": SECRET, "JWT_ALGORITHM": "hs256"}, id="lower case"),
        pytest.param({"JWT_PUBLIC_KEY": PEM, "JWT_ALGORITHM": "PS256"}, id="PS256"),
        pytest.param({"JWT_PUBLIC_KEY": PEM, "JWT_ALGORITHM": "EdDSA"}, id="EdDSA"),
        pytest.param({"JWT_SECRET": "s" * 31}, id="31-byte secret"),
        pytest.param({"JWT_SECRET": "é" * 15}, id="30 bytes in 15 characters"),
    ],
)
def test_a_token_configuration_that_does_not_fit_together_is_refused(environ):
    with pytest.raises(ConfigError):
        Settings.from_env(environ)


def test_a_32_byte_secret_is_enough():
    assert Settings.from_env({"JWT_SECRET": "é" * 16}).jwt_secret == "é" * 16


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        (Settings(jwt_secret=SECRET), SECRET),
        (Settings(jwt_public_key=PEM), PEM),
        (Settings(jwt_public_key=PEM, jwt_algorithm="ES512"), PEM),
    ],
)
def test_the_token_key_is_the_one_the_algorithm_verifies_with(settings, key):
    assert settings.token_key() == key


@pytest.mark.parametrize(
    "settings",
    [
        Settings(),
        Settings(jwt_algorithm="RS256"),
        Settings(jwt_secret=SECRET, jwt_algorithm="RS256"),
        Settings(jwt_public_key=PEM, jwt_algorithm="HS256"),
    ],
)
def test_without_the_right_kind_of_key_there_is_no_token_key(settings):
    with pytest.raises(ConfigError):
        settings.token_key()


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("true", True),
        ("TRUE", True),
        ("Yes", True),
        ("1", True),
        ("false", False),
        ("False", False),
        ("no", False),
        ("0", False),
    ],
)
def test_csv_neutralisation_is_a_boolean_setting(raw, value):
    assert Settings.from_env({"CSV_NEUTRALIZE_FORMULAS": raw}).csv_neutralize_formulas is value


def test_csv_neutralisation_is_on_unless_turned_off():
    assert Settings.from_env({}).csv_neutralize_formulas is True


@pytest.mark.parametrize("raw", ["maybe", "on", "2", "tru"])
def test_a_boolean_setting_that_is_neither_is_refused_with_the_variable_named(raw):
    with pytest.raises(ConfigError, match="CSV_NEUTRALIZE_FORMULAS"):
        Settings.from_env({"CSV_NEUTRALIZE_FORMULAS": raw})


def test_the_new_settings_survive_the_trip_through_the_environment():
    settings = Settings(jwt_public_key=PEM, jwt_algorithm="ES256", csv_neutralize_formulas=False)

    assert Settings.from_env(settings.to_env()) == settings


@pytest.mark.parametrize("secret", sorted(DEVELOPMENT_JWT_SECRETS))
def test_a_published_development_secret_is_refused_unless_dev_mode_says_so(secret):
    with pytest.raises(ConfigError, match="DEV_MODE"):
        Settings.from_env({"JWT_SECRET": secret})

    assert Settings.from_env({"JWT_SECRET": secret, "DEV_MODE": "true"}).dev_mode is True


def test_the_development_secrets_are_the_ones_the_repository_publishes():
    published = (ROOT / "docker-compose.yml").read_text() + (
        ROOT / "infra/local/run.py"
    ).read_text()
    assert all(secret in published for secret in DEVELOPMENT_JWT_SECRETS)
    assert all(key in published for key in DEVELOPMENT_DELIVERY_SECRETS_KEYS)


@pytest.mark.parametrize("key", sorted(DEVELOPMENT_DELIVERY_SECRETS_KEYS))
def test_a_published_delivery_secrets_key_is_refused_unless_dev_mode_says_so(key):
    Fernet(key.encode())  # a key that works, so nothing but this rule stops it
    with pytest.raises(ConfigError, match="DEV_MODE"):
        Settings.from_env({"DELIVERY_SECRETS_KEY": key})

    assert Settings.from_env({"DELIVERY_SECRETS_KEY": key, "DEV_MODE": "true"}).dev_mode
