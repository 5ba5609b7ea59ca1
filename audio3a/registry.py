"""The capture chain: which stages a Pipeline runs, in which order.

Each entry is ``(slot name, "module:ConfigClass")``. ``Pipeline`` builds a
slot from the config the caller passes for it (``Pipeline(ns=NsConfig(...))``),
from the config class's defaults when the caller passes nothing, and skips it
when the caller passes ``None``. A new stage joins the pipeline by adding its
line here; the pipeline's code does not change.

The order is WebRTC's: the high-pass first (DC and rumble would bias every
later estimate), echo cancellation on the linear mic signal before anything
nonlinear touches it, noise suppression on the echo-free signal, and gain
control last so it levels what the listener will hear.
"""
CAPTURE_CHAIN = (
    ("hpf", "audio3a.hpf:HpfConfig"),
    ("aec", "audio3a.aec.canceller:AecConfig"),
    ("ns", "audio3a.ns.suppressor:NsConfig"),
    ("agc", "audio3a.agc.agc:AgcConfig"),
)
