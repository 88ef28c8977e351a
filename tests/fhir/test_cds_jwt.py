"""Bearer-JWT authentication of CDS clients (CDS Hooks 2.0, "Trusting CDS Clients").

Keys are generated in the test with ``cryptography``; nothing is read from disk.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from glutemed.fhir import (
    CdsAuthenticationError,
    http_status_for,
    to_operation_outcome,
    verify_client_jwt,
)

ISS = "https://ehr.example.org/"
URL = "https://glutemed.example.org/cds-services/glutemed-lateral-hip"


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def issuers(ec_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey) -> dict[str, Any]:
    ec_jwk = json.loads(ECAlgorithm.to_jwk(ec_key.public_key()))
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key()))
    ec_jwk.update(kid="ec-1", alg="ES384", use="sig")
    rsa_jwk.update(kid="rsa-1", use="sig")  # no alg: any RSA algorithm
    return {ISS: {"keys": [ec_jwk, rsa_jwk]}}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    data = {
        "iss": ISS,
        "aud": URL,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "tenant": "2ddd6c3a-8e9a-44c6-a305-52111ad302a2",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def sign(key: Any, alg: str, kid: str | None, **overrides: Any) -> str:
    headers = {"typ": "JWT"}
    if kid:
        headers["kid"] = kid
    return jwt.encode(claims(**overrides), key, algorithm=alg, headers=headers)


def rejected(token: str, issuers: dict[str, Any], url: str = URL) -> CdsAuthenticationError:
    with pytest.raises(CdsAuthenticationError) as info:
        verify_client_jwt(token, service_url=url, issuers=issuers)
    assert http_status_for(info.value) == 401
    assert to_operation_outcome(info.value)["issue"][0]["code"] == "security"
    return info.value


def test_es384_accepted(ec_key: Any, issuers: dict[str, Any]) -> None:
    token = sign(ec_key, "ES384", "ec-1")
    out = verify_client_jwt(f"Bearer {token}", service_url=URL, issuers=issuers)
    assert out["iss"] == ISS and out["aud"] == URL


def test_rs384_accepted(rsa_key: Any, issuers: dict[str, Any]) -> None:
    token = sign(rsa_key, "RS384", "rsa-1")
    assert verify_client_jwt(token, service_url=URL, issuers=issuers)["iss"] == ISS


def test_aud_array_containing_the_url_accepted(ec_key: Any, issuers: dict[str, Any]) -> None:
    token = sign(ec_key, "ES384", "ec-1", aud=[URL])
    assert verify_client_jwt(token, service_url=URL, issuers=issuers)["aud"] == [URL]


def test_jwks_as_json_text(ec_key: Any, issuers: dict[str, Any]) -> None:
    token = sign(ec_key, "ES384", "ec-1")
    text = {ISS: json.dumps(issuers[ISS])}
    assert verify_client_jwt(token, service_url=URL, issuers=text)["iss"] == ISS


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_alg_none_rejected(issuers: dict[str, Any]) -> None:
    token = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': 'ec-1'})}.{_b64(claims())}."
    err = rejected(token, issuers)
    assert "none" in err.problems[0].found


def test_hs256_rejected(issuers: dict[str, Any], rsa_key: Any) -> None:
    rejected(sign("a-shared-secret-that-is-long-enough-for-hs256", "HS256", "ec-1"), issuers)
    # key confusion: the issuer's public key used as an HMAC secret
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64({"alg": "HS384", "typ": "JWT", "kid": "rsa-1"})
    body = _b64(claims())
    import hashlib
    import hmac

    sig = hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha384).digest()
    token = f"{header}.{body}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"
    rejected(token, issuers)


def test_expired_rejected(ec_key: Any, issuers: dict[str, Any]) -> None:
    now = int(time.time())
    err = rejected(sign(ec_key, "ES384", "ec-1", exp=now - 600, iat=now - 900), issuers)
    assert "expired" in err.message


def test_wrong_audience_rejected(ec_key: Any, issuers: dict[str, Any]) -> None:
    rejected(
        sign(ec_key, "ES384", "ec-1", aud="https://glutemed.example.org/cds-services"), issuers
    )
    rejected(sign(ec_key, "ES384", "ec-1", aud=URL + "/"), issuers)
    err = rejected(
        sign(ec_key, "ES384", "ec-1"),
        issuers,
        url="https://glutemed.example.org/cds-services/glutemed-imaging-order",
    )
    assert "audience" in err.message


def test_bad_signature_rejected(ec_key: Any, issuers: dict[str, Any]) -> None:
    other = ec.generate_private_key(ec.SECP384R1())
    err = rejected(sign(other, "ES384", "ec-1"), issuers)
    assert "signature" in err.message
    token = sign(ec_key, "ES384", "ec-1")
    header, _body, sig = token.split(".")
    tampered = f"{header}.{_b64(claims(tenant='another-tenant'))}.{sig}"
    rejected(tampered, issuers)


def test_missing_claims_rejected(ec_key: Any, issuers: dict[str, Any]) -> None:
    for name in ("jti", "exp", "iat", "aud"):
        err = rejected(sign(ec_key, "ES384", "ec-1", **{name: None}), issuers)
        assert name in err.problems[0].found
    rejected(sign(ec_key, "ES384", "ec-1", jti=""), issuers)


def test_untrusted_issuer_and_unknown_key(ec_key: Any, issuers: dict[str, Any]) -> None:
    rejected(sign(ec_key, "ES384", "ec-1", iss="https://evil.example.org/"), issuers)
    rejected(sign(ec_key, "ES384", "nope"), issuers)
    rejected(sign(ec_key, "ES384", None), issuers)  # two keys: kid needed
    p256 = ec.generate_private_key(ec.SECP256R1())
    rejected(sign(p256, "ES256", "ec-1"), issuers)  # the key says ES384


def test_malformed_tokens(issuers: dict[str, Any]) -> None:
    for token in ("", "Bearer ", "abc", "a.b.c"):
        rejected(token, issuers)


def test_replay_callback(ec_key: Any, issuers: dict[str, Any]) -> None:
    seen: set[tuple[str, str]] = set()

    def is_replay(iss: str, jti: str, exp: int) -> bool:
        key = (iss, jti)
        if key in seen:
            return True
        seen.add(key)
        return False

    token = sign(ec_key, "ES384", "ec-1")
    verify_client_jwt(token, service_url=URL, issuers=issuers, is_replay=is_replay)
    with pytest.raises(CdsAuthenticationError):
        verify_client_jwt(token, service_url=URL, issuers=issuers, is_replay=is_replay)


def test_lifetime_beyond_five_minutes_rejected(ec_key: Any, issuers: dict[str, Any]) -> None:
    now = int(time.time())
    err = rejected(sign(ec_key, "ES384", "ec-1", exp=now + 10 * 365 * 86400), issuers)
    assert "lives too long" in err.message
    err = rejected(sign(ec_key, "ES384", "ec-1", iat=now - 600, exp=now + 60), issuers)
    assert "lives too long" in err.message
    # exactly the advised five minutes is fine, and a shorter limit can be asked for
    token = sign(ec_key, "ES384", "ec-1", exp=now + 300)
    assert verify_client_jwt(token, service_url=URL, issuers=issuers)["exp"] == now + 300
    with pytest.raises(CdsAuthenticationError):
        verify_client_jwt(token, service_url=URL, issuers=issuers, max_lifetime_s=60, leeway_s=0)
