"""Resident memory of the real exporter process, by operations and campaigns: to size resources.

Run by hand: ``.venv/bin/python benchmarks/bench_memory.py [ROUNDS]`` (default 2). Each case starts
``python -m exporter`` against the simulator on 127.0.0.1 (one token per operation), waits for
``/ready``, scrapes ``/metrics`` once (rendering allocates too), then reads VmRSS and VmHWM (the
peak) from ``/proc/PID/status``; meanwhile it samples, every 5 ms, VmRSS of the process plus
that of its children (a rendering of 1,000 campaigns or more runs in a child process, and a
container's memory limit counts both): "peak with child". Cases run interleaved, round after
round; the per-operation and per-campaign costs are slopes between cases, so the interpreter's
own size cancels out. Prints numbers; asserts nothing. Linux only (``/proc``).

The Kubernetes Deployment's memory request and limit (deploy/kubernetes/deployment.yaml) and the
README's "Running at scale" come from this.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import requests
import yaml
from bench_campaigns import body_of

from exporter.simulator import Simulator

#: The start line: msg="listening on <where>; open http://127.0.0.1:PORT/".
LISTENING = re.compile(r'msg="listening on [^";]+; open (http://\S+?/)"')
#: (operations, campaigns each operation answers, max_campaigns); 60,000 is the most campaigns
#: Wolkvox returns in one answer, here with the default cap of 2,000 exported.
CASES = [(1, 10, 2000), (1, 2000, 2000), (1, 20000, 20000), (10, 10, 2000), (50, 10, 2000),
         (10, 2000, 2000), (1, 60000, 2000)]  # fmt: skip


def rows(campaigns: int) -> list[dict[str, str]]:
    """``campaigns`` campaign rows shaped like Wolkvox's (every value a string)."""
    data: list[dict[str, str]] = json.loads(body_of(campaigns))["data"]
    return data


def measure(operations: int, campaigns: int, cap: int, folder: Path) -> tuple[int, int, int]:
    """(VmRSS, VmHWM, peak with child) in KiB of an exporter with ``operations`` x
    ``campaigns`` after a scrape."""
    tokens = [f"{i:02d}" + "b" * 48 for i in range(operations)]
    with Simulator(tokens=tokens, campaigns=rows(campaigns), evolve=False) as sim:
        config = {
            "refresh_interval": "1h",
            "max_campaigns": cap,
            "operations": [
                {"name": f"op{i}", "base_url": sim.base_url, "token": token}
                for i, token in enumerate(tokens)
            ],
        }
        path = folder / f"config-{operations}-{campaigns}.yml"
        path.write_text(yaml.safe_dump(config))
        return memory_of(["--config.file", str(path)])


def memory_of(args: list[str]) -> tuple[int, int, int]:
    """(VmRSS, VmHWM, peak with child) in KiB of ``python -m exporter ARGS`` once ready and
    scraped once."""
    # A state directory of its own: a shared one would remember the last run's call and skip
    # this one's (Wolkvox's spacing holds across restarts), serving the old snapshot instead.
    state = tempfile.mkdtemp(prefix="wolkvox-bench-state-")
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter", *args, "--web.listen-address", "127.0.0.1:0",
         "--state.directory", state],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    done = threading.Event()
    peak = [0]

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], tree_rss(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        url = listening_url(process)
        pause = threading.Event()
        for _ in range(600):  # at most 60 s: a process in another process, no event to await
            if requests.get(url + "ready", timeout=5).status_code == 200:
                break
            pause.wait(0.1)
        requests.get(url + "metrics", timeout=60).raise_for_status()
        status = Path(f"/proc/{process.pid}/status").read_text()
        done.set()
        sampler.join()
        return kib(status, "VmRSS"), kib(status, "VmHWM"), max(peak[0], kib(status, "VmHWM"))
    finally:
        done.set()
        process.terminate()
        process.wait(10)
        shutil.rmtree(state, ignore_errors=True)


def tree_rss(pid: int) -> int:
    """VmRSS in KiB of ``pid`` and its children now (0 for any that has just exited)."""
    total = 0
    try:
        pids = [pid] + [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                        for c in (t / "children").read_text().split()]  # fmt: skip
        for one in pids:
            total += kib(Path(f"/proc/{one}/status").read_text(), "VmRSS")
    except (OSError, AssertionError):
        pass
    return total


def kib(status: str, field: str) -> int:
    """A ``/proc/PID/status`` field in KiB."""
    found = re.search(rf"^{field}:\s+(\d+) kB", status, re.M)
    assert found, field
    return int(found.group(1))


def listening_url(process: subprocess.Popen[str]) -> str:
    """The URL the exporter logs once it listens."""
    assert process.stderr is not None
    for line in process.stderr:
        found = LISTENING.search(line)
        if found:
            threading.Thread(target=process.stderr.read, daemon=True).start()  # keep draining
            return found.group(1)
    raise RuntimeError("the exporter exited before listening")


def main(rounds: int) -> None:
    """Print RSS and peak per case (the highest of ``rounds``), then the slopes."""
    results: dict[tuple[int, int, int], tuple[int, int, int]] = {}
    demo = (0, 0, 0)
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(rounds):
            for case in CASES:
                found = measure(*case, Path(folder))
                old = results.get(case, (0, 0, 0))
                results[case] = (max(old[0], found[0]), max(old[1], found[1]),
                                 max(old[2], found[2]))  # fmt: skip
            found = memory_of(["--demo"])
            demo = (max(demo[0], found[0]), max(demo[1], found[1]), max(demo[2], found[2]))
    print(f"{'operations':>10} {'campaigns/op':>12} {'exported':>8} {'RSS MiB':>8} {'peak MiB':>9}"
          f" {'peak with child MiB':>20}")  # fmt: skip
    for (operations, campaigns, cap), (rss, hwm, tree) in results.items():
        exported = min(campaigns, cap)
        print(f"{operations:>10} {campaigns:>12} {exported:>8} {rss / 1024:>8.1f} "
              f"{hwm / 1024:>9.1f} {tree / 1024:>20.1f}")  # fmt: skip
    print(f"{'--demo':>10} {'':>12} {'':>8} {demo[0] / 1024:>8.1f} {demo[1] / 1024:>9.1f} "
          f"{demo[2] / 1024:>20.1f}")  # fmt: skip
    rss_of = {case: rss for case, (rss, _, _) in results.items()}
    peak_of = {case: tree for case, (_, _, tree) in results.items()}
    per_op = (rss_of[(50, 10, 2000)] - rss_of[(10, 10, 2000)]) / 40
    per_campaign = (rss_of[(1, 20000, 20000)] - rss_of[(1, 2000, 2000)]) / 18000
    peak_per_campaign = (peak_of[(1, 20000, 20000)] - peak_of[(1, 2000, 2000)]) / 18000
    print(f"per operation (10 -> 50 operations of 10 campaigns): {per_op:.0f} KiB RSS")
    rss_b, peak_b = per_campaign * 1024, peak_per_campaign * 1024
    print(f"per campaign (2,000 -> 20,000 in one operation): {rss_b:.0f} B, peak with child "
          f"{peak_b:.0f} B")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
