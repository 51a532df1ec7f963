"""The followup service's definition and bootstrap: what the runtime composes."""

import asyncio

from services.followup import api, scheduler
from services.followup.handlers import Handlers
from services.followup.projections import PROJECTIONS
from services.followup.reads import Reads
from shared import kafka
from shared.runtime import Adapters, Runtime, ServiceDefinition


def bootstrap(a: Adapters) -> Handlers:
    """The handlers over the real adapters; the reads follow this process's `files` writer
    for the work list (work_index.py)."""
    reads = Reads(a.db, writers=a.writers)
    a.on_fresh(reads.refresh)  # a fresh read in a process without the projectors: reads.py
    return Handlers(a.commands, reads, a.clock)


async def keep_work_index(rt: Runtime, stop: asyncio.Event) -> None:
    """Loads the work list's index when the service starts, so the first clerk does not wait."""
    await rt.handlers.reads.work_index()
    await stop.wait()


DEFINITION = ServiceDefinition(
    name="followup",
    title="训后 · 跟踪问效（1/3/6/12 个月节点、评价、1+1 导师、上讲台、成果）",
    description="学员结业后按班次跟踪计划排定节点，到期提醒、逾期标记；本人、同事、单位领导、导师评价；"
    "“1+1”导师帮带任务、上讲台、调研成果与批示；学员与班次成效报告及 Excel 导出。"
    "事件发布到 Kafka 主题 ganxun.followup.<行政区划代码>。",
    projections=PROJECTIONS,
    routes=api.router,
    compose=bootstrap,
    workers={"scheduler": scheduler.run, "work_index": keep_work_index},
    consumer_options=kafka.county_fetch(),  # what its projectors hold fetched (shared/kafka.py)
)
