"""A county's read-model services hold little fetched data while they fold a backlog.

aiokafka keeps what it fetched for a partition until the projector has taken all of it, and
meanwhile fetches every other partition: up to one chunk per followed partition stays in
memory. At the kernel's 4 MiB, selection's projectors (three services' topics of a county, its
city and province) could hold 96 MiB of fetched bytes and the process passed 200 MB right after
folding years of history (shared/kafka.py, COUNTY_PARTITION_FETCH_BYTES)."""

import asyncio
import importlib

import pytest

from shared import jurisdiction, kafka, topics

COUNTY = "371428"
# What one county's projectors may hold fetched at once, at most.
FETCHED_BUDGET = 8 * 1024 * 1024


def followed_partitions(definition, partitions: int = 3) -> int:
    """The partitions a county deployment's projectors follow (Runtime.pattern_for's topics)."""
    followed = set()
    for p in definition.projections:
        codes = [COUNTY, *(jurisdiction.ancestors(COUNTY) if p.include_ancestors else [])]
        followed |= {topics.events_topic(src, code) for src in p.sources for code in codes}
        if "selection" not in p.sources:
            followed.add(topics.erasures_topic(COUNTY))
    return len(followed) * partitions


async def projectors_consumer(definition):
    """Made as the runtime makes it (shared/runtime.py), in a loop as aiokafka wants."""
    return kafka.consumer("127.0.0.1:9", "g", **definition.consumer_options)


@pytest.mark.parametrize("service", ["selection", "teaching", "records", "followup"])
def test_a_county_read_model_holds_a_few_mib_fetched_whatever_its_backlog(service):
    definition = importlib.import_module(f"services.{service}.service").DEFINITION
    consumer = asyncio.run(projectors_consumer(definition))
    held = followed_partitions(definition) * consumer._max_partition_fetch_bytes
    assert followed_partitions(definition) >= 9
    assert held <= FETCHED_BUDGET, f"{service}: up to {held / 2**20:.0f} MiB fetched at once"
    # A fetch round still brings several batches of 1,000 events of ~300 bytes.
    assert held >= 4 * 1000 * 300
