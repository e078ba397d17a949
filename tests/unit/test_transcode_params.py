"""Validation of the transcode's parameters (their defaults are the role's, not the validator's)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from labkit.backends.local import LocalBackend
from labkit.transcode import params


def test_the_backend_rejects_nonsense() -> None:
    # (was the segment pool's test: the local backend now runs the segments)
    with pytest.raises(ValueError):
        LocalBackend().run([], slots=0)
    with pytest.raises(ValueError):
        LocalBackend().run([], slots=1, retries=-1)


# The role's defaults (roles/transcode/defaults/main.yml): validate() has none of its own.
ROLE_DEFAULTS = {"segment_seconds": 10, "workers": "", "retries": 2, "video_codec": "libx264",
                 "preset": "veryfast", "crf": 28, "audio_codec": "aac", "audio_bitrate": "128k",
                 "baseline": False}


def test_role_defaults_are_the_ones_declared() -> None:
    root = Path(__file__).resolve().parents[2] / "roles" / "transcode"
    defaults = yaml.safe_load((root / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((root / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    for name, value in ROLE_DEFAULTS.items():
        assert defaults[f"transcode_{name}"] == value
        assert specs[f"transcode_{name}"]["default"] == value


def test_a_missing_parameter_is_named(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"data")
    values = {"video": str(video), **ROLE_DEFAULTS}
    del values["preset"]
    with pytest.raises(params.ParamError, match="missing transcode parameters: preset"):
        params.validate(values, cores=2)


def test_params_values_and_messages(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"data")
    ok = params.validate({"video": str(video), **ROLE_DEFAULTS}, cores=4)
    assert ok["workers"] == 4 and ok["segment_seconds"] == 10 and ok["crf"] == "28"
    assert ok["preset"] == "veryfast" and ok["audio_bitrate"] == "128k" and ok["baseline"] is False
    cases = [
        ({"segment_seconds": "abc"}, "transcode_segment_seconds"),
        ({"segment_seconds": 0}, "transcode_segment_seconds"),
        ({"workers": "-1"}, "transcode_workers"),
        # One rule with pi_workers: 0 is an error, empty is the automatic choice.
        ({"workers": 0}, r"transcode_workers=0 must be at least 1 \(leave it empty"),
        ({"workers": "0"}, "transcode_workers='0' must be at least 1"),
        ({"workers": "auto"}, "transcode_workers='auto' is not a whole number"),
        ({"retries": "x"}, "transcode_retries"),
        ({"preset": "warp"}, "transcode_preset"),
        ({"crf": "99"}, "transcode_crf"),
        ({"audio_bitrate": "loud"}, "transcode_audio_bitrate"),
        ({"video_codec": "lib x264"}, "transcode_video_codec"),
        ({"baseline": "maybe"}, "transcode_baseline"),
    ]
    for extra, name in cases:
        with pytest.raises(params.ParamError, match=name):
            params.validate({"video": str(video), **ROLE_DEFAULTS, **extra}, cores=2)


def test_video_path_checks_name_the_value(tmp_path: Path) -> None:
    with pytest.raises(params.ParamError, match="required"):
        params.check_video_path("")
    with pytest.raises(params.ParamError, match="does not exist"):
        params.check_video_path(str(tmp_path / "nope.mp4"))
    with pytest.raises(params.ParamError, match="directory"):
        params.check_video_path(str(tmp_path))
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(params.ParamError, match="empty"):
        params.check_video_path(str(empty))


def test_output_path_never_the_source_never_existing(tmp_path: Path) -> None:
    src = tmp_path / "a.mp4"
    src.write_bytes(b"1")
    with pytest.raises(params.ParamError, match="source"):
        params.check_output_path(str(src), str(src))
    other = tmp_path / "b.mp4"
    other.write_bytes(b"1")
    with pytest.raises(params.ParamError, match="already exists"):
        params.check_output_path(str(other), str(src))
    with pytest.raises(params.ParamError, match="must end in"):
        params.check_output_path(str(tmp_path / "c.txt"), str(src))
    with pytest.raises(params.ParamError, match="does not exist"):
        params.check_output_path(str(tmp_path / "no" / "c.mp4"), str(src))
    assert params.check_output_path(str(tmp_path / "c.mp4"), str(src)) == str(tmp_path / "c.mp4")


def test_a_name_cut_at_its_space_by_ansible_is_recognised(tmp_path) -> None:
    (tmp_path / "my clip.mp4").write_bytes(b"x")
    with pytest.raises(params.ParamError) as err:
        params.check_video_path(str(tmp_path / "my"))
    whole = str(tmp_path / "my clip.mp4")
    assert f"did you mean {whole!r}?" in str(err.value)
    assert f"""-e '{{"video": "{whole}"}}'""" in str(err.value)
    with pytest.raises(params.ParamError) as err:
        params.check_video_path(str(tmp_path / "other"))
    assert str(err.value) == f"video {str(tmp_path / 'other')!r} does not exist"
