"""Hostile and malformed movement files: seeded mutations of real files, and hypothesis.

Every reader must return a Trial or raise a ``glutemed.errors`` error: no other exception, no
hang, and memory in proportion to the file (a changed dimension byte once made a 48 KiB file
allocate 3.3 GB). Mutations are seeded, so a failure reproduces; the suite runs in seconds.
"""

from __future__ import annotations

import json
import math
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glutemed.errors import GlutemedError
from glutemed.motion import (
    Trial,
    analyse_trial,
    read_c3d,
    read_generic_csv,
    read_mediapipe,
    read_openpose,
    read_trc,
)

SHARED = Path(__file__).parents[2].parent / "shared" / "data"
DATA = Path(__file__).parents[1] / "data" / "motion"
C3D_SEEDS = [SHARED / "c3d" / "gait-raw.c3d", SHARED / "c3d-corpus" / "sample_02" / "pc_real.c3d",
             SHARED / "c3d-corpus" / "sample_02" / "sgi_int.c3d",
             SHARED / "c3d-corpus" / "sample_16" / "basketball.c3d"]
BAD_NUMBERS = ["inf", "-inf", "nan", "1e309", "-1e309", "", "x", "1e-320", "99999999999999999999"]
fuzz = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _survives(read: Callable[[], object]) -> object:
    """Run a reader; only a Trial or a typed glutemed error may come out."""
    try:
        return read()
    except GlutemedError as exc:
        assert str(exc)
        return exc


def _mutate_bytes(buf: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(buf)
    kind = rng.integers(5)
    hot = min(len(out), 512 * (out[0] + 12) if out else 0) or len(out)  # header + parameters
    if kind == 0:  # a few random bytes, mostly in the header and parameter section
        for _ in range(int(rng.integers(1, 9))):
            out[int(rng.integers(hot))] = int(rng.integers(256))
    elif kind == 1:  # extreme values at a random spot
        at = int(rng.integers(max(hot - 4, 1)))
        out[at : at + 4] = bytes(rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x80\x7f",
                                              b"\x7f\x80\x00\x00", b"\x00\x00\xc0\x7f",
                                              b"\xff\x7f\xff\x7f"]))
    elif kind == 2:  # truncation
        out = out[: int(rng.integers(len(out)))]
    elif kind == 3:  # one dimension / count byte set high
        at = int(rng.integers(hot))
        out[at] = 255
    else:  # a block of zeros
        at = int(rng.integers(hot))
        out[at : at + int(rng.integers(1, 64))] = b"\x00" * len(out[at : at + 64])
    return bytes(out)


@pytest.mark.parametrize("seed_file", C3D_SEEDS, ids=lambda p: p.name)
def test_mutated_c3d_files_give_a_trial_or_a_typed_error(seed_file: Path, tmp_path: Path) -> None:
    if not seed_file.is_file():
        pytest.skip(f"{seed_file.name} not found under ../shared/data/")
    buf = seed_file.read_bytes()
    rng = np.random.default_rng(11)
    path = tmp_path / "mutant.c3d"
    peak_limit = 30 * len(buf) + 20_000_000
    for _ in range(250):
        path.write_bytes(_mutate_bytes(buf, rng))
        tracemalloc.start()
        try:
            result = _survives(lambda: read_c3d(path))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < peak_limit, f"{peak:,} bytes for a {len(buf):,}-byte file"
        if isinstance(result, Trial):
            for arr in result.landmarks.values():
                assert not np.isinf(arr).any()
            assert math.isfinite(result.sampling_rate_hz) and result.sampling_rate_hz > 0


@fuzz
@given(st.binary(min_size=0, max_size=3000))
def test_random_bytes_behind_a_c3d_header(tmp_path_factory: pytest.TempPathFactory,
                                          tail: bytes) -> None:
    path = tmp_path_factory.mktemp("c3d") / "random.c3d"
    path.write_bytes(b"\x02\x50" + tail)
    _survives(lambda: read_c3d(path))


# --------------------------------------------------------------------------- text formats


def _trc_text(n: int = 60) -> str:
    """A small TRC (y up, mm) of a standing subject: pelvis and feet markers."""
    markers = {"LASI": (100, 950, 125), "RASI": (100, 950, -125), "SACR": (-80, 960, 0),
               "LANK": (0, 80, 100), "RANK": (0, 80, -100), "LTOE": (150, 30, 100),
               "RTOE": (150, 30, -100)}
    head = ["PathFileType\t4\t(X/Y/Z)\tdemo.trc",
            "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame"
            "\tOrigNumFrames",
            f"100\t100\t{n}\t{len(markers)}\tmm\t100\t1\t{n}",
            "Frame#\tTime\t" + "\t\t\t".join(markers) + "\t\t\t",
            "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, len(markers) + 1))]
    rows = []
    for f in range(n):
        cells = [str(f + 1), f"{f / 100:.3f}"]
        for x, y, z in markers.values():
            cells += [f"{x + f:.2f}", f"{y:.2f}", f"{z:.2f}"]
        rows.append("\t".join(cells))
    return "\n".join(head + rows) + "\n"


def _mutate_text(text: str, rng: np.random.Generator) -> str:
    lines = text.splitlines()
    kind = rng.integers(4)
    if kind == 0:  # bad numbers in random cells
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(len(lines)))
            cells = lines[i].split("\t" if "\t" in lines[i] else ",")
            cells[int(rng.integers(len(cells)))] = str(rng.choice(BAD_NUMBERS))
            lines[i] = ("\t" if "\t" in lines[i] else ",").join(cells)
    elif kind == 1:  # lines dropped or duplicated
        i = int(rng.integers(len(lines)))
        lines = lines[:i] + lines[i + 1 :] if rng.random() < 0.5 else lines[: i + 1] + lines[i:]
    elif kind == 2:  # truncated mid-line
        cut = int(rng.integers(len(text)))
        return text[:cut]
    else:  # junk characters
        i = int(rng.integers(len(lines)))
        half = len(lines[i]) // 2
        lines[i] = lines[i][:half] + "\x00\ufffd\"'," + lines[i][half:]
    return "\n".join(lines) + "\n"


def _csv_text() -> str:
    text = (DATA / "generic_sls.csv").read_text(encoding="utf-8")
    return "\n".join(text.splitlines()[:40]) + "\n"


@pytest.mark.parametrize(("suffix", "make", "read"), [
    (".trc", _trc_text, read_trc),
    (".csv", _csv_text, read_generic_csv),
], ids=["trc", "generic_csv"])
def test_mutated_text_files(tmp_path: Path, suffix: str, make: Callable[[], str],
                            read: Callable[[Path], Trial]) -> None:
    text = make()
    rng = np.random.default_rng(12)
    path = tmp_path / f"mutant{suffix}"
    for _ in range(300):
        path.write_text(_mutate_text(text, rng), encoding="utf-8")
        result = _survives(lambda: read(path))
        if isinstance(result, Trial):
            assert all(not np.isinf(a).any() for a in result.landmarks.values())


def test_an_infinite_cell_is_a_gap_with_a_flag_not_a_number(tmp_path: Path) -> None:
    """One 'inf' cell once made pelvic drop 85.7 deg instead of 4.1 and cadence 180."""
    lines = _trc_text().splitlines()
    cells = lines[30].split("\t")
    cells[3] = "inf"  # LASI y, frame 26
    lines[30] = "\t".join(cells)
    path = tmp_path / "inf.trc"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    trial = read_trc(path)
    assert np.isnan(trial.landmarks["left_asis"][25]).all()
    assert np.isfinite(trial.landmarks["left_asis"][24]).all()
    assert [c for c, _ in trial.notes] == ["non_finite_values"]
    result = analyse_trial(trial, "single_leg_stance")
    assert "non_finite_values" in {q.code for q in result.quality}


# --------------------------------------------------------------------------- JSON formats

_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30),
                       st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5))
_json_any = st.recursive(_json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20)


def _mediapipe_doc(n: int = 4) -> dict[str, Any]:
    lm = [{"x": 0.5 + 0.01 * j, "y": 0.2 + 0.02 * j, "z": 0.0, "visibility": 0.9}
          for j in range(33)]
    return {"fps": 30, "image_width": 1280, "image_height": 720,
            "frames": [{"timestamp_ms": 33 * i, "landmarks": lm} for i in range(n)]}


def _replace_random_node(doc: Any, value: Any, rng: np.random.Generator) -> Any:
    """Replace one randomly chosen node of a JSON document by ``value``."""
    if not isinstance(doc, dict | list) or rng.random() < 0.15:
        return value
    keys = list(doc) if isinstance(doc, dict) else list(range(len(doc)))
    if not keys:
        return value
    k = keys[int(rng.integers(len(keys)))]
    doc[k] = _replace_random_node(doc[k], value, rng)
    return doc


@fuzz
@given(value=_json_any, seed=st.integers(0, 2**32 - 1))
def test_mediapipe_json_with_a_random_node(tmp_path_factory: pytest.TempPathFactory,
                                           value: Any, seed: int) -> None:
    doc = _replace_random_node(_mediapipe_doc(), value, np.random.default_rng(seed))
    path = tmp_path_factory.mktemp("mp") / "pose.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    _survives(lambda: read_mediapipe(path))


@fuzz
@given(value=_json_any, seed=st.integers(0, 2**32 - 1))
def test_openpose_frame_with_a_random_node(tmp_path_factory: pytest.TempPathFactory,
                                           value: Any, seed: int) -> None:
    folder = tmp_path_factory.mktemp("op")
    for i, src in enumerate(sorted((DATA / "openpose_body25").glob("*.json"))):
        doc = json.loads(src.read_text(encoding="utf-8"))
        if i == 2:
            doc = _replace_random_node(doc, value, np.random.default_rng(seed))
        (folder / src.name).write_text(json.dumps(doc), encoding="utf-8")
    _survives(lambda: read_openpose(folder, sampling_rate_hz=30))


def test_deeply_nested_json_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    with pytest.raises(GlutemedError):
        read_mediapipe(path)
