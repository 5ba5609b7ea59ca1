"""The fused chain (``audio3a.chain``): one kernel call per frame, the per-stage output bit for bit."""
import numpy as np
import pytest

from audio3a import chain
from audio3a.agc.agc import AgcConfig
from audio3a.aec.canceller import AecConfig
from audio3a.benchmark import _echo_scene, _per_stage
from audio3a.errors import FrameError
from audio3a.hpf import HpfConfig
from audio3a.ns.suppressor import NsConfig
from audio3a.pipeline import Pipeline
from audio3a.stage import RenderStage

CONFIGS = {
    "all": {},
    "dsp": {"ns": NsConfig(method="dsp")},
    "no-aec": {"aec": None},
    "no-ns": {"ns": None},
    "no-agc": {"agc": None},
    "hpf+aec": {"ns": None, "agc": None},
    "no-hpf": {"hpf": None},
}
DEFAULTS = {"hpf": HpfConfig(), "aec": AecConfig(), "ns": NsConfig(), "agc": AgcConfig()}


def _stages(rate, config):
    """The pipeline's stages, built alone from the same configs, in the registry's order."""
    out = []
    for name, default in DEFAULTS.items():
        c = config.get(name, default)
        if c is not None:
            out.append(c.build(rate))
    return out


def _stage_by_stage(stages, near, far):
    """One frame pair through the stages' own ``process`` / ``process_render``, far_talk handed on."""
    for s in stages:
        if isinstance(s, RenderStage):
            s.process_render(far)
    y, echo, handed = near, False, []
    for s in stages:
        s.far_talk = echo
        handed.append(echo)
        y = s.process(y)
        echo = echo or s.echo_dominant
    return y.copy(), handed


@pytest.mark.parametrize("rate", [16000, 48000])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_fused_chain_output_is_the_stage_by_stage_output(rate, name):
    """Real frames (corpus speech with echo) give the bytes and stats of the stages run one by one,
    the far_talk hand-off included (the echo scene makes the AEC find echo-only frames)."""
    n = 320 if rate == 16000 else 160
    mic, far = _echo_scene(rate, n, None)
    p = Pipeline(rate, **CONFIGS[name])
    assert p._capture_chain is not None  # every default stage exposes its kernel
    stages = _stages(rate, CONFIGS[name])
    echo_frames = 0
    for i in range(n):
        y, handed = _stage_by_stage(stages, mic[i], far[i])
        if i % 3 == 0:  # the three entry points, each one fused call
            z = p.process(mic[i], far[i])
        else:
            p.process_render(far[i])
            z = p.process_capture(mic[i])
        assert z.tobytes() == y.tobytes(), f"frame {i}"
        echo_frames += handed[-1]
    assert {s.name: s.stats for s in p.stages} == {s.name: s.stats for s in stages}
    if "aec" not in CONFIGS[name] and p.stages[-1].name != "aec":
        assert echo_frames > 0  # far_talk reached the stages after the AEC in some frames


def test_fused_and_per_stage_paths_match_for_int16_and_after_reset():
    mic, far = _echo_scene(16000, 200, None)
    mic16, far16 = (np.round(a * 20000).astype(np.int16) for a in (mic, far))
    a, b = Pipeline(16000), _per_stage(Pipeline(16000))
    for run in range(2):
        for i in range(200):
            assert np.array_equal(a.process(mic16[i], far16[i]), b.process(mic16[i], far16[i]))
        a.reset()
        b.reset()


def test_nan_in_process_changes_what_two_calls_would():
    """``process(near, far)``: a bad far frame changes nothing; a bad near frame after a good far
    frame leaves that far frame queued, as ``process_render`` then ``process_capture`` do."""
    mic, far = _echo_scene(16000, 120, None)
    bad = np.full(160, np.nan, np.float32)
    a, b = Pipeline(16000), Pipeline(16000)
    for i in range(120):
        if i == 50:
            with pytest.raises(FrameError, match="far-end frame contains NaN"):
                a.process(mic[i], bad)
        if i == 70:
            with pytest.raises(FrameError, match="near-end frame contains NaN"):
                a.process(bad, far[i])
            b.process_render(far[i])
        if i == 90:  # a bad near frame that is not ready (float64) after a good far frame
            with pytest.raises(FrameError, match="near-end frame contains NaN"):
                a.process(bad.astype(np.float64), far[i])
            b.process_render(far[i])
        assert np.array_equal(a.process(mic[i], far[i]), b.process(mic[i], far[i]))
    assert a.stats == b.stats


def test_a_stage_without_kernel_runs_stage_by_stage():
    mic, far = _echo_scene(16000, 60, None)
    a, b = Pipeline(16000), Pipeline(16000)
    b.stage("ns").kernel = None
    b._fuse()
    assert b._capture_chain is None and a._capture_chain is not None
    for i in range(60):
        assert np.array_equal(a.process(mic[i], far[i]), b.process(mic[i], far[i]))


def test_one_set_of_chain_kernels_per_configuration():
    a, b, c = Pipeline(16000), Pipeline(48000), Pipeline(16000, agc=None)
    assert a._capture_chain is b._capture_chain and a._process_chain is b._process_chain
    assert c._capture_chain is not a._capture_chain
    assert Pipeline(16000, aec=None)._render_chain is None
    with pytest.raises(ValueError):
        chain.chain_kernels([])


def test_chain_kernels_load_from_the_disk_cache_in_a_new_process():
    """The per-configuration kernels keep ``cache=True`` working: a new process loads them."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    import audio3a

    Pipeline(16000)  # compiled or loaded here, so saved in the cache
    code = ("import json; from audio3a.pipeline import Pipeline; p = Pipeline(16000); "
            "print(json.dumps([[sum(d.stats.cache_misses.values()), sum(d.stats.cache_hits.values())] "
            "for d in (p._render_chain, p._capture_chain, p._process_chain)]))")
    root = str(Path(audio3a.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    for misses, hits in json.loads(out.stdout.strip().splitlines()[-1]):
        assert misses == 0 and hits >= 1


def test_read_only_and_unaligned_frames_give_the_native_frames_output():
    """A frame the compiled entry point was not built for (read-only, unaligned: ``chain.is_native``
    is False) is copied into the pipeline's own buffer first; every form gives the same bytes."""
    mic, far = _echo_scene(16000, 60, None)
    a, b = Pipeline(16000), Pipeline(16000)
    assert a._capture_entry is not a._capture_chain  # the entry point was found
    raw = np.zeros(160 * 4 + 1, np.uint8)            # float32 views at an odd byte offset
    for i in range(60):
        near, far_f = mic[i], far[i]
        if i % 3 == 0:
            near, far_f = near.copy(), far_f.copy()
            near.flags.writeable = far_f.flags.writeable = False
        elif i % 3 == 1:
            near = raw[1:].view(np.float32)
            near[:] = mic[i]
            assert not near.flags.aligned
        assert not (chain.is_native(near) and chain.is_native(far_f)) or i % 3 == 2
        np.testing.assert_array_equal(b.process(near, far_f), a.process(mic[i].copy(), far[i].copy()))
