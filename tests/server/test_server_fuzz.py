"""HTTP fuzz (issue 14): generated JSON bodies and hostile path values never give a 500."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.test_fuzz_inputs import json_values

FUZZ = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

case_like = st.fixed_dictionaries(
    {},
    optional={
        "patient": st.one_of(
            json_values, st.fixed_dictionaries({}, optional={"age_years": json_values})
        ),
        "setting": st.one_of(st.sampled_from(["primary_care", "specialist"]), json_values),
        "findings": st.one_of(
            json_values,
            st.dictionaries(
                st.sampled_from(["trendelenburg_sign", "lateral_hip_pain", "x" * 300]),
                st.one_of(st.sampled_from(["positive", "negative"]), json_values),
            ),
        ),
        "imaging": json_values,
        "outcomes": json_values,
    },
)


@FUZZ
@given(body=st.one_of(json_values, case_like), nest=st.integers(0, 2000))
def test_generated_bodies_never_give_500(sqlite_app: FastAPI, h: Any, body: Any, nest: int) -> None:
    api = _client(sqlite_app, h)
    text = "[" * nest + json.dumps(body) + "]" * nest
    for url in ("/api/v1/assess", "/api/v1/patients", "/fhir"):
        r = api.post(url, content=text, headers={"content-type": "application/json"})
        assert r.status_code < 500, (url, r.status_code, r.text[:300])


@FUZZ
@given(
    ident=st.one_of(
        st.integers(-(10**40), 10**40).map(str),
        st.text(alphabet="0123456789-+.eE_ %", min_size=1, max_size=40),
    )
)
def test_hostile_ids_never_give_500(sqlite_app: FastAPI, h: Any, ident: str) -> None:
    api = _client(sqlite_app, h)
    for url in (
        f"/api/v1/patients/{ident}",
        f"/api/v1/visits/{ident}",
        f"/fhir/Patient/{ident}/$everything",
        f"/patients/{ident}",
    ):
        assert api.get(url).status_code < 500, url


_CLIENTS: dict[int, Any] = {}


def _client(app: FastAPI, h: Any) -> Any:
    """One logged-in client per app for all examples (logging in costs more than a request)."""
    key = id(app)
    if key not in _CLIENTS:
        _CLIENTS[key] = h.Api(app, h.add_user(app))
    return _CLIENTS[key]
