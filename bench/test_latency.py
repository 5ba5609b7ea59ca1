"""pytest-benchmark: per-frame time of every available stage and of the pipeline, 16 and 48 kHz.

``make bench`` runs ``pytest bench --benchmark-enable --benchmark-only``. The
stages are discovered from ``audio3a.registry`` (plus the PLC concealer when
present), so a stage gets its rows as soon as it is registered. Each round
processes the next 10 ms frame of real speech (with a far-end signal for
render stages), cycling through ~30 s.
"""
import itertools

import pytest

from audio3a.benchmark import _echo_scene, _loss_mask, available_stages
from audio3a.pipeline import Pipeline
from audio3a.stage import RenderStage

RATES = (16000, 48000)
N_FRAMES = 3000
STAGES = sorted(available_stages(16000)[0])


def _cycler(n):
    it = itertools.cycle(range(n))
    return lambda: next(it)


@pytest.fixture(scope="module", params=RATES, ids=lambda r: f"{r // 1000}k")
def scene(request):
    mic, far = _echo_scene(request.param, N_FRAMES, None)
    return request.param, mic, far


@pytest.mark.parametrize("name", STAGES)
def test_stage(benchmark, scene, name):
    rate, mic, far = scene
    stage = available_stages(rate)[0][name](rate)
    nxt = _cycler(mic.shape[0])
    benchmark.group = f"stage {rate // 1000} kHz"
    benchmark.name = name
    if name == "plc":
        lost = _loss_mask(mic.shape[0], rate=0.2)

        def step():
            i = nxt()
            stage.process(None if lost[i] else mic[i])
    elif isinstance(stage, RenderStage):
        def step():
            i = nxt()
            stage.process_render(far[i])
            stage.process(mic[i])
    else:
        def step():
            stage.process(mic[nxt()])
    for _ in range(100):
        step()
    benchmark(step)


def test_pipeline(benchmark, scene):
    rate, mic, far = scene
    p = Pipeline(rate)
    nxt = _cycler(mic.shape[0])
    benchmark.group = f"pipeline {rate // 1000} kHz"
    benchmark.name = "pipeline (" + "+".join(s.name for s in p.stages) + ")"
    if p._render_stages:
        def step():
            i = nxt()
            p.process(mic[i], far[i])
    else:
        def step():
            p.process_capture(mic[nxt()])
    for _ in range(100):
        step()
    benchmark(step)


try:
    from bench import peers as _peers

    PEERS = sorted(set(_peers.available_adapters(16000)) | set(_peers.available_adapters(48000)))
except Exception:  # peers are optional
    PEERS = []


@pytest.mark.parametrize("name", PEERS)
def test_peer(benchmark, scene, name):
    """The installed peers in the same groups, for side-by-side reading (`audio3a bench` interleaves them)."""
    rate, mic, far = scene
    cls = _peers.FRAME_ADAPTERS[name]
    if rate not in cls.rates:
        pytest.skip(f"{cls.name} does not run at {rate} Hz")
    peer = cls(rate)
    nxt = _cycler(mic.shape[0])
    benchmark.group = f"{'pipeline' if cls.compare == 'pipeline' else 'stage'} {rate // 1000} kHz"
    benchmark.name = f"peer: {cls.name}"

    def step():
        i = nxt()
        peer.frame(mic[i], far[i])
    for _ in range(100):
        step()
    benchmark(step)
