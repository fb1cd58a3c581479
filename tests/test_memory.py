"""Large freed blocks go back to the system: memory at rest does not keep a refresh's peak."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from exporter import memory

GLIBC = (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")

#: A refresh in miniature: a block past glibc's dynamic threshold is freed (raising it), then
#: 50 blocks of 2 MiB, each followed by a long-lived one of 200 KiB that pins the heap, are
#: freed. Prints how many MiB of RSS stayed (the pins hold 10).
PROBE = """
import sys
from exporter import memory
if sys.argv[1] == "set":
    assert memory.return_large_blocks({})
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
big = bytes(20 << 20)
del big
before = rss()
blocks, pins = [], []
for _ in range(50):
    blocks.append(b"x" * (2 << 20))  # written: its pages are resident
    pins.append(b"y" * (200 << 10))
del blocks
print(round(rss() - before))
"""


def run_probe(code: str, mode: str) -> str:
    """What ``code`` prints, run with ``mode`` in a Python of its own without MALLOC_ tunables."""
    return subprocess.run(
        [sys.executable, "-c", code, mode],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")},
    ).stdout


def kept_mib(mode: str) -> int:
    return int(run_probe(PROBE, mode))


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_freed_large_blocks_are_given_back_to_the_system() -> None:
    assert kept_mib("default") > 80  # glibc's own behaviour: the heap keeps them
    assert kept_mib("set") < 20


#: A scrape in miniature: an answer of 900 KiB is built, written and freed, 100 times. Prints
#: the page faults it took (about 190 each time the heap gave the block back).
REUSE = """
import resource, sys
from exporter import memory
assert memory.return_large_blocks({"MALLOC_TRIM_THRESHOLD_": "x"} if sys.argv[1] == "mmap" else {})
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):
    answer = b"x" * (900 << 10)
    del answer
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_an_answer_under_the_threshold_reuses_the_heap_without_faulting_pages_in() -> None:
    def faults(mode: str) -> int:
        return int(run_probe(REUSE, mode))

    assert faults("mmap") > 100 * 150  # the mmap threshold alone: glibc trims at 128 KiB
    assert faults("both") < 100 * 5


def test_a_threshold_the_user_chose_is_left_alone() -> None:
    assert memory.return_large_blocks({"MALLOC_MMAP_THRESHOLD_": "65536"}) is False
