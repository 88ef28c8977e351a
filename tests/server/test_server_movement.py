"""Movement upload: a real C3D gait trial -> glutemed.motion -> measures and plot, kept.

Uses the shared reference file ``../shared/data/c3d/gait-raw.c3d`` (c3d.org sample03, see its
README); skipped when the reference data or the motion package is absent.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

C3D = Path(__file__).resolve().parents[3] / "shared" / "data" / "c3d" / "gait-raw.c3d"


def _motion_ready() -> bool:
    try:
        return hasattr(importlib.import_module("glutemed.motion"), "analyse_file")
    except ImportError:
        return False


pytestmark = [
    pytest.mark.reference_data,
    pytest.mark.skipif(not C3D.exists(), reason=f"reference data not found at {C3D}"),
    pytest.mark.skipif(not _motion_ready(), reason="glutemed.motion.analyse_file is not available"),
]


@pytest.mark.slow
def test_upload_c3d_stores_measures_and_plot(api: Any, patient: dict[str, Any], h: Any) -> None:
    vid = api.post(
        f"/api/v1/patients/{patient['id']}/visits", json={"case": h.example_case("tendinopathy")}
    ).json()["visit"]["id"]
    with C3D.open("rb") as fh:
        r = api.post(
            f"/api/v1/visits/{vid}/movement",
            files={"file": ("trial 1.c3d", fh, "application/octet-stream")},
            data={"task": "walk"},
        )
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["task"] == "walk" and m["file_name"] == "trial 1.c3d" and len(m["file_sha256"]) == 64
    assert m["result"]["sampling_rate_hz"] == pytest.approx(50.0)
    assert "contralateral_pelvic_drop_deg" in m["result"]["measures"]
    assert m["versions"]["kb"]
    assert m["has_plot"]
    png = api.get(f"/api/v1/movement/{m['id']}/plot.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    detail = api.get(f"/api/v1/visits/{vid}").json()
    assert [x["id"] for x in detail["movements"]] == [m["id"]]


def test_upload_rejects_unknown_file_types(api: Any, patient: dict[str, Any], h: Any) -> None:
    vid = api.post(
        f"/api/v1/patients/{patient['id']}/visits", json={"case": h.example_case("hip_oa")}
    ).json()["visit"]["id"]
    r = api.post(
        f"/api/v1/visits/{vid}/movement",
        files={"file": ("notes.txt", b"hello", "text/plain")},
        data={"task": "walk"},
    )
    assert r.status_code == 422 and r.json()["problems"][0]["location"] == "file"
    r = api.post(
        f"/api/v1/visits/{vid}/movement",
        files={"file": ("broken.c3d", b"not a c3d", "application/octet-stream")},
        data={"task": "walk"},
    )
    assert r.status_code == 422
    assert api.get(f"/api/v1/visits/{vid}").json()["movements"] == []


@pytest.mark.slow
def test_movement_page_shows_verdict_strides_and_obliquity(pages: Any, h: Any) -> None:
    from tests.server.test_server_wording import raw_bits

    client = pages()
    _, visit_url, token = h.patient_with_visit(client)
    with C3D.open("rb") as fh:
        r = client.post(
            f"{visit_url}/movement",
            data={"csrf_token": token, "task": "walk"},
            files={"file": ("trial.c3d", fh, "application/octet-stream")},
            follow_redirects=False,
        )
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"]).text
    assert "Strides measured" in page and "Verdict" in page
    verdict = page.split("<td>Verdict</td>", 1)[1].split("</tr>", 1)[0]
    assert verdict.count('<strong class="call-') == 2  # a call for each side
    obliquity = page.split("Pelvic obliquity", 1)[1].split("</tr>", 1)[0]
    assert 'colspan="2"' in obliquity and "—" not in obliquity and "°" in obliquity
    assert "± 0.0 " not in page
    assert not raw_bits(page), raw_bits(page)
    vid = visit_url.rsplit("/", 1)[1]
    letter = client.get(f"/visits/{vid}/report?to=gp").text
    assert "Movement analysis" in letter and 'src="data:image/png;base64,' in letter
