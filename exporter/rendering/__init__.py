"""Rendering metric families into the bytes of /metrics, here or in a child process.

Owns: the encodings of families in both formats, each also deflated, and the live tail that
closes an answer (``encoding``, pure); rendering a large generation in a short-lived child
process (``process``, run as ``python -m exporter.rendering.process``). It imports only
prometheus_client, so a child loads little besides the generation it renders (no HTTP
server: about 10 MB and 0.25 s less per child than from the web side).
"""

# ``process`` is not imported here: ``python -m exporter.rendering.process`` would then find
# it imported already when it runs as the child's ``__main__``.
from exporter.rendering.encoding import EMPTY, GZIP_HEADER, Encoded, encode, live_tail

__all__ = ["EMPTY", "GZIP_HEADER", "Encoded", "encode", "live_tail"]
