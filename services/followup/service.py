"""The followup service's definition: what the runtime composes."""

from shared.runtime import ServiceDefinition
from services.followup import api
from services.followup.projections import PROJECTIONS

DEFINITION = ServiceDefinition(
    name="followup",
    title="训后 · 跟踪问效（1/3/6/12 个月节点、评价、1+1 导师、上讲台、成果）",
    description="尚在建设中：仅提供健康检查、就绪检查与接口文档。",
    projections=PROJECTIONS,
    routes=api.routes,
)
