"""Video hashing: frame selection as vPDQ does it, formats, limits and bad input."""

import io

import av
import numpy as np
import pytest
from PIL import Image

from matcher import errors, pdq, video
from matcher.video import NotMedia, NoVideoStream, VideoLimits, VideoTooLong, hash_video
from tests.videos import encode, scenes


@pytest.fixture(scope="module")
def clip(photos):
    frames = scenes([photos["astronaut"], photos["coffee"], photos["chelsea"]], seconds_each=2, fps=25)
    return frames, encode(frames, 25)


def test_frames_are_sampled_once_a_second_like_vpdq(clip):
    frames, data = clip
    hashed = hash_video(data, collapse=False, min_quality=0)
    assert hashed.fps == 25 and hashed.decoded_frames == 150 and abs(hashed.duration - 6.0) < 0.1
    assert [f.number for f in hashed.frames] == [0, 25, 50, 75, 100, 125]
    assert [f.t for f in hashed.frames] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    # each hash is (close to) the PDQ of the source frame at that time; H.264 moves a few bits
    for f in hashed.frames:
        source, _ = pdq.hash_array(frames[f.number])
        assert int(np.bitwise_count(source ^ f.words).sum()) <= 24


def test_interval_and_path_input(clip, tmp_path):
    _, data = clip
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    from_path = hash_video(path, interval=2.0, collapse=False)
    assert [f.t for f in from_path.frames] == [0.0, 2.0, 4.0]
    assert from_path.to_dict()["frames"] == hash_video(data, interval=2.0, collapse=False).to_dict()["frames"]
    record = from_path.to_dict()
    assert record["kind"] == "video" and len(record["md5"]) == 32 and record["duration"] == pytest.approx(6.0, abs=0.1)


def test_static_shots_collapse_and_blank_frames_drop(photos):
    still = [photos["rocket"][:240, :320].copy()] * 100
    black = [np.zeros((240, 320, 3), np.uint8)] * 50
    data = encode(still + black, 25)
    raw = hash_video(data, collapse=False, min_quality=0)
    assert len(raw.frames) == 6
    kept = hash_video(data)
    assert len(kept.frames) == 1 and kept.frames[0].t == 0.0  # one still shot; black frames have no detail


@pytest.mark.parametrize("fmt, codec", [("webm", "libvpx-vp9"), ("matroska", "libx264"), ("avi", "mpeg4"), ("mov", "hevc")])
def test_containers_and_codecs(photos, fmt, codec):
    frames = scenes([photos["astronaut"]], seconds_each=3, fps=10)
    data = encode(frames, 10, fmt=fmt, codec=codec)
    assert [f.t for f in hash_video(data, collapse=False, min_quality=0).frames] == [0.0, 1.0, 2.0]


def test_animated_gif_and_webp(photos):
    pics = [Image.fromarray(photos[n]).resize((160, 120)) for n in ("astronaut", "coffee", "chelsea")]
    for fmt in ("GIF", "WEBP"):
        buffer = io.BytesIO()
        pics[0].save(buffer, format=fmt, save_all=True, append_images=pics[1:], duration=1000, loop=0)
        hashed = hash_video(buffer.getvalue(), collapse=False, min_quality=0)
        assert [f.t for f in hashed.frames] == [0.0, 1.0, 2.0], fmt
        assert hashed.duration == pytest.approx(3.0)


def test_limits(clip):
    _, data = clip
    with pytest.raises(errors.MediaTooLarge):
        hash_video(data, limits=VideoLimits(max_bytes=len(data) - 1))
    with pytest.raises(VideoTooLong, match="limit"):
        hash_video(data, limits=VideoLimits(max_seconds=5))
    with pytest.raises(VideoTooLong, match="frames"):
        hash_video(data, limits=VideoLimits(max_frames=100))
    with pytest.raises(errors.TooManyPixels):
        hash_video(data, limits=VideoLimits(max_frame_pixels=320 * 200))


def test_bad_input():
    with pytest.raises(errors.EmptyMedia):
        hash_video(b"")
    with pytest.raises(NotMedia, match="text"):
        hash_video(b"just some text, not a video at all\n" * 10)
    with pytest.raises(NotMedia, match="PDF"):
        hash_video(b"%PDF-1.7\n" + b"x" * 200)


def test_truncated_and_audio_only(clip):
    _, data = clip
    with pytest.raises(errors.MediaError) as info:
        hash_video(data[: len(data) // 3])  # MP4 cut before its index
    assert info.value.code in ("corrupt", "not_media")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(NoVideoStream, match="audio"):
        hash_video(buffer.getvalue())


def test_garbage_never_crashes():
    rng = np.random.default_rng(3)
    for head in (b"\x00\x00\x00\x18ftypmp42", b"\x1a\x45\xdf\xa3", b"RIFF\x00\x00\x00\x00AVI LIST", b"GIF89a"):
        for _ in range(10):
            blob = head + rng.integers(0, 256, size=int(rng.integers(10, 3000)), dtype=np.uint8).tobytes()
            try:
                hash_video(blob)
            except errors.MediaError:
                pass


def test_query_phases_add_the_midpoints_to_the_vpdq_grid(clip):
    _, data = clip
    hashed = hash_video(data, phases=2, collapse=False, min_quality=0)
    numbers = [f.number for f in hashed.frames]
    assert numbers[:6] == [0, 12, 25, 37, 50, 62]  # every 25th frame (vPDQ's grid) and the ones midway


def _full_decode(monkeypatch, data, **kwargs):
    """hash_video decoding and counting every frame (vPDQ's way), for comparison."""
    with monkeypatch.context() as m:
        m.setattr(video, "_decode_mode", lambda *a: "all")
        return hash_video(data, collapse=False, min_quality=0, **kwargs)


def _same_frames(a, b):
    assert [(f.number, f.t, f.quality) for f in a.frames] == [(f.number, f.t, f.quality) for f in b.frames]
    assert all((x.words == y.words).all() for x, y in zip(a.frames, b.frames, strict=True))


@pytest.mark.parametrize("phases", [1, 2])
def test_skipping_unsampled_reference_free_frames_changes_nothing(clip, monkeypatch, phases):
    _, data = clip
    skipped = hash_video(data, collapse=False, min_quality=0, phases=phases)
    _same_frames(skipped, _full_decode(monkeypatch, data, phases=phases))
    # and frames really were left undecoded: x264's B-frames are not references
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        numbers = [n for n, _ in video._numbered_by_pts(container, stream, 25, {0}, 25.0)]
    assert len(numbers) < 150 and {0, 25, 50, 75, 100, 125} <= set(numbers)
    assert numbers == sorted(numbers)


def test_variable_frame_rate_falls_back_to_counting_frames(photos, monkeypatch):
    frames = scenes([photos["astronaut"], photos["coffee"]], seconds_each=3, fps=25)
    # 25 fps for the first half, then 10 fps: timestamps no longer say which frame is which number
    times = [n / 25 if n < 75 else 3 + (n - 75) / 10 for n in range(len(frames))]
    data = encode(frames, 25, times=times)
    _same_frames(hash_video(data, collapse=False, min_quality=0), _full_decode(monkeypatch, data))


def test_intra_only_video_decodes_only_the_sampled_frames(photos, monkeypatch):
    frames = scenes([photos["astronaut"], photos["coffee"]], seconds_each=3, fps=25)
    data = encode(frames, 25, fmt="avi", codec="mjpeg", pix_fmt="yuvj420p")
    for phases in (1, 2):
        _same_frames(hash_video(data, collapse=False, min_quality=0, phases=phases),
                     _full_decode(monkeypatch, data, phases=phases))
    decoded = []
    with monkeypatch.context() as m:
        real = video._numbered_intra
        m.setattr(video, "_numbered_intra", lambda *a: (decoded.append(n) or (n, f) for n, f in real(*a)))
        hash_video(data, collapse=False, min_quality=0)
    assert decoded == [0, 25, 50, 75, 100, 125]  # 6 of 150 frames decoded
