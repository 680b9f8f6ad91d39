"""python -m infra.compose_test (make compose-test): docker-compose.yml on a real engine.

Builds the product's image from infra/Dockerfile, starts the stack under a project name of
its own on free host ports, and checks it from outside, through the published ports: every
service healthy, the one-shot jobs run once, a report end to end with its checksum, a run
mailed through Mailpit with its file attached, two relays and two workers through a burst, a
worker stopped during an export, and `down -v` leaving nothing. Images that cannot be
pulled are replaced by stand-ins (standins.py).
Everything the run made is removed at the end, pass or fail, except the stand-in images,
which are kept so the next run starts in seconds.
"""

from __future__ import annotations

import sys
import tempfile
import time
import traceback
from pathlib import Path

from infra.compose_test import scenario
from infra.compose_test.engine import Engine, log
from infra.compose_test.stack import Stack
from infra.compose_test.standins import Image, debian_base, real_or_standin
from infra.compose_test.vendor import STANDIN_OF, official_images


def main() -> int:
    engine = Engine(Path(tempfile.gettempdir()) / "reportbox-compose-test-dockerd.log")
    results: list[scenario.Result] = []
    images: list[Image] = []
    stack: Stack | None = None
    try:
        engine.start()
        images = prepare_images(results)
        stack = Stack({image.variable: image.reference for image in images})
        log(f"compose project {stack.project}, ports {stack.ports}")
        scenario.run(stack, results)
    except Exception:  # reported below, then the cleanup runs
        traceback.print_exc()
        results.append(scenario.Result("the run itself", False, 0.0, "aborted (see above)"))
    finally:
        if stack is not None:
            cleanup_started = time.monotonic()
            stack.remove()
            left = {kind: ids for kind, ids in stack.leftovers().items() if ids}
            results.append(
                scenario.Result(
                    "clean-up: containers, networks, volumes and the built image removed",
                    not left,
                    time.monotonic() - cleanup_started,
                    f"left: {left}" if left else "",
                )
            )
        engine.stop()
    print_summary(results, images)
    return 0 if results and all(result.passed for result in results) else 1


def prepare_images(results: list[scenario.Result]) -> list[Image]:
    started = time.monotonic()
    official = official_images()
    python = real_or_standin("PYTHON_IMAGE", official.pop("PYTHON_IMAGE"), "python", debian_base)
    images = [python]
    for variable, reference in official.items():
        standin = STANDIN_OF[variable]
        # The S3 stand-in is a Python program: it builds on the Python image.
        base = (lambda: python.reference) if standin == "s3" else debian_base
        images.append(real_or_standin(variable, reference, standin, base))
    results.append(scenario.Result("images ready (pulled or stand-ins)", True, _since(started)))
    return images


def _since(started: float) -> float:
    return time.monotonic() - started


def print_summary(results: list[scenario.Result], images: list[Image]) -> None:
    print("\n== make compose-test ==")
    for result in results:
        mark = "PASS" if result.passed else "FAIL"
        detail = f"  ({result.detail})" if result.detail else ""
        print(f"{mark}  {result.seconds:6.1f} s  {result.name}{detail}")
    print("\nImages:")
    for image in images:
        kind = "STAND-IN for " + image.official if image.standin else "official"
        print(f"  {image.variable:<16} {image.reference}  [{kind}]")
    if any(image.standin for image in images):
        print("Stand-in images (and reportbox-standin/debian:bookworm) are kept for later runs;")
        print("`docker image ls reportbox-standin/*` lists them, `docker image rm` frees them.")
    passed = bool(results) and all(result.passed for result in results)
    print(f"\n{'PASSED' if passed else 'FAILED'} in {_since(scenario.RUN_STARTED):.0f} s")


if __name__ == "__main__":
    sys.exit(main())
