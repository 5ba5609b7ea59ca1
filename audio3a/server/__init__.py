"""A UDP voice server and its test client: RTP audio from many participants, mixed back.

``server.Server`` terminates RTP from each participant (``session.Session``:
FEC receiver, jitter buffer, concealer, 3A pipeline with the audio sent back
as its echo reference, recorder, sender with adaptive FEC); ``mixer`` sums
everyone else for each participant; ``recorder`` writes both directions of
every session incrementally with a JSON sidecar; ``guard`` bounds what bad
traffic can cost; ``wire`` tells datagrams apart and packs the RTCP sender
report and BYE; ``client`` streams a file through a channel model and
records what comes back (also a load generator).
"""
