"""The dashboard's projectors fetch smaller chunks per partition than the kernel's 4 MiB
(services/dashboard/service.py says why: aiokafka holds one chunk per partition not yet consumed,
~1,200 at a province; 256 KiB, as 12 are read at once while catching up, and each fetch round
walks all of them)."""

import asyncio

from services.dashboard.service import DEFINITION, PARTITION_FETCH_BYTES
from shared import kafka


async def consumers():
    """Made in a loop, as aiokafka wants (nothing connects before start)."""
    return kafka.consumer("127.0.0.1:9", "g", **DEFINITION.consumer_options), kafka.consumer(
        "127.0.0.1:9", "g"
    )


def test_a_dashboard_consumer_fetches_its_own_chunk_size_and_others_keep_the_kernels():
    ours, theirs = asyncio.run(consumers())
    assert ours._max_partition_fetch_bytes == PARTITION_FETCH_BYTES <= 256 * 1024
    assert theirs._max_partition_fetch_bytes == 4 * 1024 * 1024
    assert ours._fetch_max_bytes < theirs._fetch_max_bytes
