"""The selection service's definition: what the runtime composes."""

from shared.runtime import ServiceDefinition
from services.selection import api
from services.selection.projections import PROJECTIONS
from services.selection.read_index import keep_index

DEFINITION = ServiceDefinition(
    name="selection",
    title="训前 · 精准施训（班次、划定范围、单位推荐、组织确定）",
    description="班次开设与学员推荐。事件发布到 Kafka 主题 ganxun.selection.<行政区划代码>。",
    projections=PROJECTIONS,
    routes=api.routes,
    workers={"index": keep_index},
)
