"""Time `AlertsService.notify` with N json:// channels in a fresh process; print JSON.

Usage: python benchmarks/alerts_worker.py NETLOC N WARM_CALLS

The first call is cold (it imports Apprise and its plugins); the next WARM_CALLS are warm. The
desktop is off (alerts also go to the log, which is not started: loguru's default, discarded).
"""

from __future__ import annotations

import json
import sys
import time


def main(netloc: str, count: int, warm_calls: int) -> None:
    """Print `{"cold": seconds, "warm": [seconds, ...]}` for N channels."""
    from loguru import logger

    from model_name.io.services import AlertsService, AlertText

    logger.remove()  # the log line of each alert is not what is measured
    urls = [f"json://{netloc}/worker/{index}" for index in range(count)]
    service = AlertsService.model_validate({"enable": False, "channels": urls})
    timings = []
    for _ in range(1 + warm_calls):
        started = time.perf_counter()
        service.notify("check succeeded", AlertText("Job check completed.", markdown="**done**"))
        timings.append(time.perf_counter() - started)
    print(json.dumps({"cold": timings[0], "warm": timings[1:]}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
