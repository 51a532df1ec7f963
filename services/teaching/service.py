"""The teaching service's definition: what the runtime composes."""

from shared.runtime import ServiceDefinition
from services.teaching import api
from services.teaching.projections import PROJECTIONS

DEFINITION = ServiceDefinition(
    name="teaching",
    title="训中 · 教学管理（课程、师资、现场教学点、课次、考勤、学时）",
    description="由选学服务的事件生成班级名册。事件发布到 Kafka 主题 ganxun.teaching.<行政区划代码>。",
    projections=PROJECTIONS,
    routes=api.routes,
)
