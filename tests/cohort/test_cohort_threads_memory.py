"""A thread LocalCluster runs inside the host process: a memory limit must not pause it when
the host (e.g. a test runner) already holds more than the limit (this hung the batch tests)."""

import time

import numpy as np
import pytest

from brainmets.distributed import dask_client


@pytest.mark.timeout(90)
def test_thread_workers_run_when_host_process_exceeds_the_memory_limit():
    ballast = np.ones(int(6e8) // 8)  # ~600 MB resident in this process
    with dask_client(None, 2, processes=False, memory_limit="256MiB") as c:
        time.sleep(2)  # let the memory monitor look at the process
        assert sum(c.gather(c.map(lambda x: x + 1, range(4)))) == 10
    assert ballast[0] == 1.0
