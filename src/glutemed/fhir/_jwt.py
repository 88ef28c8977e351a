"""Authenticate a CDS client by its bearer JWT (CDS Hooks 2.0, "Trusting CDS Clients").

Rules enforced
--------------
* The token is a JWS signed with an **asymmetric** algorithm (ES256/384/512, RS256/384/512,
  PS256/384/512, EdDSA). ``none`` and every HMAC algorithm (HS256/384/512) are rejected, as the
  specification requires; ES384 and RS384 are the recommended ones.
* ``iss`` must be a configured issuer (allow-list); the key comes from that issuer's JWK Set,
  configured out of band. ``jku`` is not dereferenced (no network calls from a verifier).
* The header's ``kid`` selects the key (it may be omitted only when the set has one key); a key's
  ``alg`` and type must match the token's algorithm; ``typ``, when present, must be ``JWT``.
* Claims ``iss``, ``aud``, ``exp``, ``iat`` and ``jti`` are required. ``aud`` must be exactly the
  URL of the endpoint called (a string, or an array containing it); ``exp`` must be in the future
  (with ``leeway_s``); ``jti`` must be a non-empty string, and ``is_replay`` (if given) may reject
  a ``jti`` seen before.
* A token lives at most ``max_lifetime_s`` (default 300 s, the five minutes the CDS Hooks
  specification advises): ``exp - iat`` and ``exp - now`` may not exceed it (plus ``leeway_s``),
  so a leaked token cannot be replayed for long and the replay store stays small.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import jwt
from jwt import PyJWK

from glutemed._checks import short_repr
from glutemed.errors import Problem
from glutemed.fhir._errors import CdsAuthenticationError

__all__ = ["ALLOWED_ALGORITHMS", "MAX_TOKEN_LIFETIME_S", "verify_client_jwt"]

#: Longest lifetime of a CDS client token, in seconds (CDS Hooks 2.0: "5 minutes").
MAX_TOKEN_LIFETIME_S = 300.0

#: Asymmetric JWS algorithms accepted (RFC 7518); ES384 and RS384 are recommended by CDS Hooks.
ALLOWED_ALGORITHMS = (
    "ES256",
    "ES384",
    "ES512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "EdDSA",
)
_KTY = {"ES": "EC", "RS": "RSA", "PS": "RSA", "Ed": "OKP"}
_REQUIRED = ["iss", "aud", "exp", "iat", "jti"]


def _fail(what: str, expected: str, found: str, hint: str = "") -> CdsAuthenticationError:
    return CdsAuthenticationError(
        f"CDS client authentication failed: {what}",
        [Problem("Authorization", expected, found, hint)],
    )


def _key_set(config: Mapping[str, Any] | str, iss: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(config) if isinstance(config, str) else dict(config)
    except (ValueError, TypeError):
        data = {}
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys) or not keys:
        raise _fail(
            "issuer's key set is unusable",
            f"a JWK Set configured for {iss}",
            "no keys",
            "fix the issuer configuration",
        )
    return [dict(k) for k in keys]


def _pick_key(keys: list[dict[str, Any]], kid: Any, alg: str, iss: str) -> PyJWK:
    if kid is not None:
        matches = [k for k in keys if k.get("kid") == kid]
        if not matches:
            raise _fail("unknown key id", f"a kid in the JWK Set of {iss}", short_repr(kid))
        jwk = matches[0]
    elif len(keys) == 1:
        jwk = keys[0]
    else:
        raise _fail("no key id", "a kid header (the issuer has several keys)", "none")
    kty = _KTY[alg[:2]]
    if jwk.get("kty") != kty:
        raise _fail(
            "key type does not match the algorithm",
            f"a {kty} key for {alg}",
            short_repr(jwk.get("kty")),
        )
    if jwk.get("alg") is not None and jwk.get("alg") != alg:
        raise _fail(
            "algorithm does not match the key", f"alg {jwk.get('alg')} (the key's)", short_repr(alg)
        )
    try:
        return PyJWK(jwk, algorithm=alg)
    except jwt.PyJWTError as exc:
        raise _fail(
            "issuer's key is unusable",
            f"a valid {kty} public key for {alg}",
            type(exc).__name__,
            "fix the issuer configuration",
        ) from None


def verify_client_jwt(
    token: str,
    *,
    service_url: str,
    issuers: Mapping[str, Mapping[str, Any] | str],
    leeway_s: float = 30.0,
    is_replay: Callable[[str, str, int], bool] | None = None,
    max_lifetime_s: float = MAX_TOKEN_LIFETIME_S,
    now: float | None = None,
) -> dict[str, Any]:
    """Verify a CDS client's bearer JWT and return its claims.

    Parameters
    ----------
    token
        The JWT (the ``Authorization`` header value, with or without the ``Bearer`` prefix).
    service_url
        The exact absolute URL of the endpoint called, e.g.
        ``https://glutemed.example.org/cds-services/glutemed-lateral-hip`` (or ``.../cds-services``
        for discovery); ``aud`` must equal it.
    issuers
        Allowed issuers: ``iss`` -> its JWK Set (a mapping ``{"keys": [...]}`` or its JSON text).
    leeway_s
        Clock skew allowed for ``exp``/``iat``/``nbf``, in seconds.
    is_replay
        Optional ``(iss, jti, exp) -> bool`` callback that records the ``jti`` and returns True if
        it was seen before (the server keeps it in its database until ``exp``).
    max_lifetime_s
        Longest accepted ``exp - iat`` and ``exp - now``, in seconds.
    now
        The current time (seconds since the epoch); default: the clock.

    Returns
    -------
    dict
        The verified claims.

    Raises
    ------
    CdsAuthenticationError
        For a missing or malformed token, ``alg`` none or HMAC, an unknown issuer or key, a bad
        signature, an expired token or one that lives too long, a wrong audience, a missing or
        replayed ``jti`` (HTTP 401).
    """
    text = token.strip() if isinstance(token, str) else ""
    if text[:7].lower() == "bearer ":
        text = text[7:].strip()
    if not text:
        raise _fail("no token", "a bearer JWT", "nothing")
    try:
        header = jwt.get_unverified_header(text)
        unverified = jwt.decode(text, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise _fail(
            "malformed token", "a compact JWS (header.payload.signature)", type(exc).__name__
        ) from None
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise _fail(
            "algorithm not allowed",
            "an asymmetric algorithm (ES384 or RS384 recommended)",
            short_repr(alg),
            "alg none and HMAC (HS*) are forbidden by CDS Hooks",
        )
    typ = header.get("typ")
    if typ is not None and str(typ).upper() != "JWT":
        raise _fail("wrong token type", "typ JWT", short_repr(typ))
    iss = unverified.get("iss")
    if not isinstance(iss, str) or iss not in issuers:
        raise _fail("untrusted issuer", "a configured issuer (iss)", short_repr(iss))
    key = _pick_key(_key_set(issuers[iss], iss), header.get("kid"), str(alg), iss)
    try:
        claims: dict[str, Any] = jwt.decode(
            text,
            key=key,
            algorithms=[str(alg)],
            audience=service_url,
            issuer=iss,
            leeway=leeway_s,
            options={"require": _REQUIRED},
        )
    except jwt.ExpiredSignatureError:
        raise _fail("token expired", "an exp in the future", "an expired token") from None
    except jwt.InvalidAudienceError:
        raise _fail(
            "wrong audience", f"aud equal to {service_url}", short_repr(unverified.get("aud"))
        ) from None
    except jwt.InvalidSignatureError:
        raise _fail(
            "bad signature",
            "a signature made with the issuer's key",
            "a signature that does not verify",
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise _fail(
            "missing claim", "claims iss, aud, exp, iat and jti", f"no {exc.claim}"
        ) from None
    except jwt.InvalidTokenError as exc:
        raise _fail("invalid token", "a valid signed JWT", type(exc).__name__) from None
    clock = time.time() if now is None else now
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise _fail("invalid token", "numeric exp and iat claims", "something else")
    longest = max_lifetime_s + leeway_s
    if exp - iat > longest or exp - clock > longest:
        raise _fail(
            "token lives too long",
            f"exp at most {max_lifetime_s:.0f} s after iat and after now",
            f"exp {exp - iat:.0f} s after iat",
            "CDS clients should issue tokens that expire within 5 minutes",
        )
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti.strip() or len(jti) > 256:
        raise _fail(
            "missing jti",
            "a non-empty jti (replay nonce) of at most 256 characters",
            short_repr(jti),
        )
    if is_replay is not None and is_replay(iss, jti, int(claims["exp"])):
        raise _fail("replayed token", "a jti not seen before", "a jti already used")
    return claims
