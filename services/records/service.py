"""The records service's definition: what the runtime composes."""

from shared.runtime import ServiceDefinition
from services.records import api
from services.records.projections import PROJECTIONS

DEFINITION = ServiceDefinition(
    name="records",
    title="训中 · 纪实考察（3+N 实名纪实、量化考核、纪实考察记录表、干部肖像）",
    description="尚在建设中：仅提供健康检查、就绪检查与接口文档。",
    projections=PROJECTIONS,
    routes=api.routes,
)
