"""The capture chain: which stages a Pipeline runs, in which order.

Each entry is ``(slot name, "module:ConfigClass")``. ``Pipeline`` builds a
slot from the config the caller passes for it (``Pipeline(ns=NsConfig(...))``),
from the config class's defaults when the caller passes nothing, and skips it
when the caller passes ``None``. A new stage joins the pipeline by adding its
line here; the pipeline's code does not change.
"""
CAPTURE_CHAIN = (
    ("hpf", "audio3a.hpf:HpfConfig"),
)
