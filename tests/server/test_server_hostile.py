"""Hostile requests get a typed answer, never a 500 (issue 14): ids beyond any row, deeply
nested JSON, and races on unique record numbers."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from fastapi import FastAPI

from tests.server.conftest import Api

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/patients/{HUGE}",
        f"/api/v1/patients/{HUGE}/visits",
        f"/api/v1/patients/{HUGE}/timeline",
        f"/api/v1/visits/{HUGE}",
        f"/api/v1/assessments/{HUGE}",
        f"/api/v1/care-plans/{HUGE}",
        f"/api/v1/movement/{HUGE}",
        f"/fhir/Patient/{HUGE}/$everything",
        "/api/v1/patients/9223372036854775808",
        "/api/v1/patients/0",
        "/api/v1/patients/-1",
    ],
)
def test_ids_beyond_any_row_are_not_found(api: Api, url: str) -> None:
    r = api.get(url)
    assert r.status_code == 404, (url, r.status_code, r.text)


def test_huge_id_in_a_write_is_not_found(api: Api) -> None:
    r = api.patch(f"/api/v1/patients/{HUGE}", json={"notes": "x", "version": 1})
    assert r.status_code == 404, r.text
    r = api.post(f"/api/v1/patients/{HUGE}/visits", json={"visit_date": "2026-01-01", "case": {}})
    assert r.status_code in (404, 422), r.text


def test_huge_id_page_is_not_found(pages: Any) -> None:
    client = pages()
    r = client.get(f"/patients/{HUGE}")
    assert r.status_code == 404 and "Traceback" not in r.text


@pytest.mark.parametrize("depth", [200, 100_000])
def test_deeply_nested_json_is_a_client_error(api: Api, depth: int) -> None:
    body = "[" * depth + "]" * depth
    for url in ("/api/v1/assess", "/api/v1/patients"):
        r = api.post(url, content=body, headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500, (url, r.status_code)
    r = api.post(
        "/fhir",
        content='{"resourceType": "Bundle", "entry": ' + body + "}",
        headers={"content-type": "application/fhir+json"},
    )
    assert r.status_code in (400, 413, 422), r.text
    assert r.json()["resourceType"] == "OperationOutcome"


def test_concurrent_record_numbers_give_one_201_and_409s(app: FastAPI, api_factory: Any) -> None:
    first = api_factory()
    clinic = first.user.clinic
    clients = [first] + [api_factory(clinic=clinic) for _ in range(7)]
    number = f"MRN-{uuid.uuid4().hex[:8]}"
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def create(client: Api) -> None:
        barrier.wait()
        r = client.post(
            "/api/v1/patients",
            json={"family_name": "Race", "identifier": number, "sex": "female"},
        )
        statuses.append(r.status_code)

    threads = [threading.Thread(target=create, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [409] * (len(clients) - 1), statuses


def test_deeply_nested_keypoint_upload_is_a_client_error(
    api: Api, patient: dict[str, Any], h: Any
) -> None:
    vid = api.post(
        f"/api/v1/patients/{patient['id']}/visits", json={"case": h.example_case("hip_oa")}
    ).json()["visit"]["id"]
    nested = b"[" * 200_000 + b"]" * 200_000
    r = api.post(
        f"/api/v1/visits/{vid}/movement",
        files={"file": ("keypoints.json", nested, "application/json")},
        data={"task": "walk"},
    )
    assert r.status_code == 422, r.text
    # the upload field or the file name
    assert r.json()["problems"][0]["location"] in ("file", "keypoints.json")
