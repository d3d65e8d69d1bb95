"""Configuration: every problem reported at once, exit 2 before any connection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from openbook.config import BuildLimits, default_concurrency, load_settings
from openbook.errors import ConfigError

SECRET = "s" * 40


def good_env(tmp_path: Path) -> dict[str, str]:
    return {
        "DB_DSN": "postgres://u:p@127.0.0.1:5432/db",
        "REDIS_ADDR": "127.0.0.1:6379",
        "REDIS_PASSWORD": "",
        "REDIS_DB": "0",
        "APP_PORT": "8080",
        "STORAGE_PATH": str(tmp_path),
        "JWT_SECRET": SECRET,
    }


def test_valid_environment_parses(tmp_path: Path) -> None:
    settings = load_settings("api", good_env(tmp_path))
    assert settings.app_port == 8080
    assert settings.redis is not None and settings.redis.addr == "127.0.0.1:6379"
    assert settings.jwt is not None and settings.jwt.algorithm == "HS256"
    assert settings.storage_path == tmp_path.resolve()
    assert settings.worker_claim_idle_ms == 60_000
    assert settings.retention_min_age_s == 3600
    assert load_settings("worker", good_env(tmp_path) | {"RETENTION_MIN_AGE_S": "0"}).retention_min_age_s == 0


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    env = {"DB_DSN": "mysql://x", "REDIS_ADDR": "nohost", "REDIS_DB": "zero", "APP_PORT": "99999",
           "STORAGE_PATH": str(tmp_path / "missing"), "JWT_SECRET": "short"}
    with pytest.raises(ConfigError) as info:
        load_settings("api", env)
    text = "\n".join(info.value.problems)
    for name in ("DB_DSN", "REDIS_ADDR", "REDIS_PASSWORD", "REDIS_DB", "APP_PORT", "STORAGE_PATH", "JWT_SECRET"):
        assert name in text


@pytest.mark.parametrize(
    ("name", "value"),
    [("REDIS_DB", "-1"), ("APP_PORT", "http"), ("WORKER_CLAIM_IDLE_MS", "soon"), ("JWT_ALGORITHM", "none"),
     ("THEMES_PATH", "/nonexistent/themes"), ("RETENTION_MIN_AGE_S", "1h"), ("RETENTION_MIN_AGE_S", "-5")],
)
def test_malformed_values_are_refused(tmp_path: Path, name: str, value: str) -> None:
    env = good_env(tmp_path) | {name: value}
    with pytest.raises(ConfigError) as info:
        load_settings("api", env)
    assert any(name in p for p in info.value.problems)


def test_build_limits_and_concurrency_default_and_parse(tmp_path: Path) -> None:
    defaults = load_settings("worker", good_env(tmp_path))
    assert defaults.build_limits == BuildLimits(cpu_s=120, memory_mb=2048, wall_s=300, max_file_mb=64,
                                                max_output_mb=4096)
    assert defaults.worker_concurrency == default_concurrency() >= 1
    assert defaults.build_cache_path == tmp_path.resolve() / "_build-cache"
    elsewhere = tmp_path / "cache"
    elsewhere.mkdir()
    assert load_settings("worker", good_env(tmp_path) | {"BUILD_CACHE_PATH": str(elsewhere)}).build_cache_path \
        == elsewhere.resolve()
    env = good_env(tmp_path) | {"BUILD_CPU_S": "5", "BUILD_MEMORY_MB": "512", "BUILD_WALL_S": "30",
                                "BUILD_MAX_FILE_MB": "8", "BUILD_MAX_OUTPUT_MB": "100", "WORKER_CONCURRENCY": "3",
                                "BUILD_WARM_SITES": "0", "BUILD_WARM_IDLE_S": "60"}
    settings = load_settings("worker", env)
    assert settings.build_limits == BuildLimits(cpu_s=5, memory_mb=512, wall_s=30, max_file_mb=8, max_output_mb=100,
                                                warm_sites=0, warm_idle_s=60)
    assert settings.worker_concurrency == 3


def test_bad_build_limits_are_all_reported(tmp_path: Path) -> None:
    env = good_env(tmp_path) | {"BUILD_CPU_S": "0", "BUILD_MEMORY_MB": "lots", "BUILD_WALL_S": "-1",
                                "BUILD_MAX_FILE_MB": "0", "WORKER_CONCURRENCY": "0",
                                "BUILD_CACHE_PATH": str(tmp_path / "missing"), "BUILD_WARM_SITES": "-1",
                                "BUILD_WARM_IDLE_S": "0"}
    with pytest.raises(ConfigError) as info:
        load_settings("worker", env)
    text = "\n".join(info.value.problems)
    for name in ("BUILD_CPU_S", "BUILD_MEMORY_MB", "BUILD_WALL_S", "BUILD_MAX_FILE_MB", "WORKER_CONCURRENCY",
                 "BUILD_CACHE_PATH", "BUILD_WARM_SITES", "BUILD_WARM_IDLE_S"):
        assert name in text
    with pytest.raises(ConfigError, match=r"BUILD_MAX_FILE_MB .* must not exceed BUILD_MAX_OUTPUT_MB"):
        load_settings("worker", good_env(tmp_path) | {"BUILD_MAX_FILE_MB": "10", "BUILD_MAX_OUTPUT_MB": "5"})


def test_worker_does_not_need_jwt_or_port(tmp_path: Path) -> None:
    env = {k: v for k, v in good_env(tmp_path).items() if k not in ("JWT_SECRET", "APP_PORT")}
    settings = load_settings("worker", env | {"WORKER_NAME": "w1"})
    assert settings.worker_name == "w1"


@pytest.mark.parametrize("command", ["api", "worker", "migrate"])
def test_cli_exits_2_naming_problems_before_connecting(command: str) -> None:
    result = subprocess.run([sys.executable, "-m", "openbook.cli", command], env={"PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "DB_DSN is missing" in result.stderr
    if command != "migrate":
        assert "REDIS_ADDR is missing" in result.stderr and "STORAGE_PATH is missing" in result.stderr


def public_pem(key: Any) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def asymmetric_env(tmp_path: Path, algorithm: str, pem: str) -> dict[str, str]:
    env = {k: v for k, v in good_env(tmp_path).items() if k != "JWT_SECRET"}
    return env | {"JWT_ALGORITHM": algorithm, "JWT_PUBLIC_KEY": pem}


@pytest.mark.parametrize("algorithm", ["RS256", "RS384", "RS512"])
def test_rsa_public_key_is_accepted_for_rs_algorithms(tmp_path: Path, algorithm: str) -> None:
    pem = public_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    settings = load_settings("api", asymmetric_env(tmp_path, algorithm, pem))
    assert settings.jwt is not None and settings.jwt.algorithm == algorithm and settings.jwt.key == pem


def test_ec_p256_public_key_is_accepted_for_es256(tmp_path: Path) -> None:
    pem = public_pem(ec.generate_private_key(ec.SECP256R1()))
    settings = load_settings("api", asymmetric_env(tmp_path, "ES256", pem))
    assert settings.jwt is not None and settings.jwt.algorithm == "ES256"


BROKEN_PEM = "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n"


@pytest.mark.parametrize(("algorithm", "make_pem", "says"), [
    ("RS256", lambda: "", "not a PEM public key"),
    ("RS256", lambda: BROKEN_PEM, "not a PEM public key"),
    ("RS256", lambda: public_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))[:200],
     "not a PEM public key"),
    ("RS256", lambda: public_pem(ec.generate_private_key(ec.SECP256R1())), "must be an RSA public key"),
    ("RS256", lambda: public_pem(ed25519.Ed25519PrivateKey.generate()), "must be an RSA public key"),
    ("RS256", lambda: public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
     "at least 2048 bits"),
    ("ES256", lambda: public_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
     "must be an EC P-256 public key"),
    ("ES256", lambda: public_pem(ec.generate_private_key(ec.SECP384R1())), "must be an EC P-256 public key"),
], ids=["empty", "garbage-base64", "truncated", "ec-for-rs", "ed25519-for-rs", "short-rsa", "rsa-for-es",
        "p384-for-es"])
def test_a_public_key_that_cannot_verify_is_refused_at_start(tmp_path: Path, algorithm: str, make_pem: Any,
                                                            says: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings("api", asymmetric_env(tmp_path, algorithm, make_pem()))
    (problem,) = [p for p in info.value.problems if "JWT_PUBLIC_KEY" in p]
    assert says in problem


def test_a_public_key_given_as_hmac_secret_is_refused(tmp_path: Path) -> None:
    pem = public_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(ConfigError) as info:
        load_settings("api", good_env(tmp_path) | {"JWT_SECRET": pem})
    assert any("JWT_SECRET looks like a public key" in p for p in info.value.problems)


def test_cli_refuses_a_bad_public_key_with_exit_2(tmp_path: Path) -> None:
    env = asymmetric_env(tmp_path, "RS256", BROKEN_PEM) | {"PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "openbook.cli", "api"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "JWT_PUBLIC_KEY is not a PEM public key" in result.stderr
