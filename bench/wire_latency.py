"""A server's own latency as the wire sees it: the request's last packet to the reply's first.

Every ncclient round trip holds the client's 5 ms tick (STACK-NOTES) and its Python SSH
stack besides the server's work, and the tick is the larger part: the rates in
``netconf_agent.py`` compare the servers through that constant. The server's own share
is what a capture on loopback sees between them, and nothing of the server is slowed
by it (the kernel copies the packets; no ptrace, no hooks in the process).

``WireCapture(port)`` runs ``tcpdump`` (Debian's package; root or CAP_NET_RAW) on ``lo``
for the server's port while one-at-a-time round trips run, and gives one latency per
round trip: from the client's last packet with payload before the reply (its request,
whole) to the server's first packet with payload after it (the reply's first byte).
Packets without payload (ACKs) are ignored. Without tcpdump, ``error`` says why and
there are no figures.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

_LINE = re.compile(r"(\d+\.\d+) IP 127\.0\.0\.1\.(\d+) > 127\.0\.0\.1\.(\d+):.* length (\d+)")


def server_latencies(lines: list[str], port: int) -> list[float]:
    """Microseconds from each request to its reply, from tcpdump's ``-tt -n`` lines."""
    out: list[float] = []
    request: float | None = None
    for line in lines:
        m = _LINE.match(line)
        if m is None or int(m[4]) == 0:
            continue
        t, dst = float(m[1]), int(m[3])
        if dst == port:
            request = t  # the latest client packet: the request is whole after it
        elif request is not None:
            out.append((t - request) * 1e6)
            request = None
    return out


class WireCapture:
    """``with WireCapture(port) as cap: ...`` then ``cap.median_us`` (None: not measured,
    ``cap.error`` says why)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.latencies_us: list[float] = []
        self.error: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="qnms-wire-")
        self._out = Path(self._dir.name) / "capture.txt"

    @property
    def median_us(self) -> float | None:
        return statistics.median(self.latencies_us) if self.latencies_us else None

    def __enter__(self) -> WireCapture:
        tool = shutil.which("tcpdump")
        if tool is None:
            self.error = "tcpdump is not installed (apt-get install tcpdump)"
            return self
        cmd = [tool, "-i", "lo", "-n", "-tt", "-l", f"tcp port {self.port}"]
        with self._out.open("w") as sink:
            proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        said = [proc.stderr.readline() for _ in range(2)]  # a hint, then "listening on"
        ready = next((line for line in said if "listening on" in line), "")
        if not ready:
            proc.kill()
            proc.wait()
            self.error = f"tcpdump did not start: {' '.join(said).strip() or proc.returncode}"
            return self
        self._proc = proc
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()  # tcpdump flushes what it captured, then exits
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
            self.latencies_us = server_latencies(self._out.read_text().splitlines(), self.port)
            if not self.latencies_us:
                self.error = "tcpdump captured no round trip"
        self._dir.cleanup()
