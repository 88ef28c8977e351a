"""Movement from a video: the page, the landmark upload it makes, and the annotated still."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.motion._helpers import mediapipe_stance_doc, solid_jpeg
from tests.server.conftest import page_csrf


def _visit(client: Any) -> tuple[int, str]:
    token = page_csrf(client.get("/patients/new").text)
    r = client.post("/patients", data={"csrf_token": token, "family_name": "Video"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    patient_url = r.headers["location"]
    form = client.get(f"{patient_url}/visits/new").text
    r = client.post(
        f"{patient_url}/visits",
        data={
            "csrf_token": page_csrf(form),
            "visit_date": "2026-11-03",
            "f_lateral_hip_pain": "positive",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    visit_id = int(re.search(r"/visits/(\d+)", r.headers["location"]).group(1))  # type: ignore[union-attr]
    return visit_id, page_csrf(client.get(f"/visits/{visit_id}").text)


def _upload(client: Any, visit_id: int, token: str, doc: dict[str, Any]) -> Any:
    return client.post(
        f"/visits/{visit_id}/movement",
        data={"csrf_token": token, "task": "single_leg_stance"},
        files={"file": ("clinic.landmarks.json", json.dumps(doc).encode(), "application/json")},
        headers={"X-CSRF-Token": token},
    )


def test_video_page_says_the_video_stays_and_allows_wasm(pages: Any) -> None:
    client = pages()
    visit_id, _ = _visit(client)
    assert "Measure from a phone video" in client.get(f"/visits/{visit_id}").text
    page = client.get(f"/visits/{visit_id}/movement/video")
    assert page.status_code == 200
    assert "The video stays on this device" in page.text and "How to film" in page.text
    csp = page.headers["content-security-policy"]
    assert "'wasm-unsafe-eval'" in csp and "media-src 'self' blob:" in csp
    # other pages keep the strict policy
    assert "wasm" not in client.get(f"/visits/{visit_id}").headers["content-security-policy"]


def test_pose_model_is_served_by_the_app(pages: Any) -> None:
    from glutemed.motion.video import pose_assets_missing

    if pose_assets_missing():
        pytest.skip(str(pose_assets_missing()))
    client = pages()
    for path in ("/static/pose/pose_video.js",
                 "/static/pose/node_modules/@mediapipe/pose/pose.js",
                 "/static/pose/node_modules/@mediapipe/pose/pose_landmark_lite.tflite"):
        r = client.get(path)
        assert r.status_code == 200 and len(r.content) > 1000, path
    wasm = client.get("/static/pose/node_modules/@mediapipe/pose/pose_solution_simd_wasm_bin.wasm")
    assert wasm.headers["content-type"] == "application/wasm"


def test_landmarks_then_still_at_peak_drop(pages: Any) -> None:
    client = pages()
    visit_id, token = _visit(client)
    r = _upload(client, visit_id, token, mediapipe_stance_doc(drop_deg=8.0))
    assert r.status_code == 200 and re.search(r"/movement/\d+$", str(r.url)), r.text[:400]
    html = r.text
    assert "the video itself was not uploaded" in html
    assert "the pelvis drops 8.0° on the other side" in html
    # the verdict table (left column first) calls the left stance indeterminate
    assert re.search(r"<strong class=\"call-indeterminate\">", html), html[-2000:]
    assert "pelvic drop 8.0° ± 4.0° (reference 5.0°)" in html
    peak = float(re.search(r'data-peak-time-s="([0-9.]+)"', html).group(1))  # type: ignore[union-attr]
    assert 1.8 <= peak <= 4.2
    still_url = re.search(r'data-still-upload="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    r = client.post(still_url, data={"csrf_token": token},
                    files={"image": ("still.jpg", solid_jpeg(360, 640), "image/jpeg")},
                    headers={"X-CSRF-Token": token})
    assert r.status_code == 200, r.text[:400]
    assert "/still.png" in r.text
    png = client.get(still_url.replace("/still", "/still.png"))
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    letter = client.get(f"/visits/{visit_id}/report?to=gp").text
    assert "Video frame at peak pelvic drop (left leg stance, 8.0° drop" in letter
    assert 'src="data:image/png;base64,' in letter


def test_still_needs_a_peak_and_an_image(pages: Any) -> None:
    client = pages()
    visit_id, token = _visit(client)
    r = _upload(client, visit_id, token, mediapipe_stance_doc(drop_deg=8.0))
    movement = str(r.url).rsplit("/", 1)[1]
    bad = client.post(f"/movement/{movement}/still", data={"csrf_token": token},
                      files={"image": ("still.jpg", b"\xff\xd8 not a jpeg", "image/jpeg")},
                      headers={"X-CSRF-Token": token})
    assert bad.status_code == 422 and "JPEG or PNG" in bad.text
    standing = mediapipe_stance_doc(lift_window_s=(10.0, 11.0))  # never lifts a foot
    r = _upload(client, visit_id, token, standing)
    assert "data-peak-time-s" not in r.text
    movement = str(r.url).rsplit("/", 1)[1]
    none = client.post(f"/movement/{movement}/still", data={"csrf_token": token},
                       files={"image": ("still.jpg", solid_jpeg(100, 100), "image/jpeg")},
                       headers={"X-CSRF-Token": token})
    assert none.status_code == 422 and "peak pelvic drop" in none.text


def test_a_hitched_pelvis_is_not_called_a_drop(pages: Any) -> None:
    client = pages()
    visit_id, token = _visit(client)
    r = _upload(client, visit_id, token, mediapipe_stance_doc(drop_deg=-4.0))
    assert "the other side of the pelvis is 4.0° higher (no drop)" in r.text
    assert "the pelvis drops -" not in r.text
