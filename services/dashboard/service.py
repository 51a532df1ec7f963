"""The dashboard's definition: what the runtime composes."""

import asyncio

from shared.runtime import Runtime, ServiceDefinition
from services.dashboard import api, handlers
from services.dashboard.projections import PROJECTIONS


async def keep_rollup(rt: Runtime, stop: asyncio.Event) -> None:
    """Loads the in-memory roll-up at start, so the first page view does not wait for it."""
    await handlers.rollup_of(rt)
    await stop.wait()


DEFINITION = ServiceDefinition(
    name="dashboard",
    title="省级看板 · 训前训中训后汇总（省 → 市 → 县 → 班次 → 学员）",
    description="读取四个服务在 Kafka 上的事件（ganxun.<服务>.<行政区划代码>），按行政区划逐级汇总，"
                "网页实时更新（SSE），可导出 Excel。看板自身不发布事件。",
    projections=PROJECTIONS,
    routes=api.routes,
    workers={"rollup": keep_rollup},
)
