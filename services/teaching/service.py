"""The teaching service's definition and its bootstrap: what the runtime composes."""

from services.teaching import api, closer
from services.teaching.checkin import CheckinCodes, deployment_secret
from services.teaching.handlers import Handlers
from services.teaching.projections import PROJECTIONS
from services.teaching.reads import Reads
from shared import kafka
from shared.runtime import Adapters, ServiceDefinition


def bootstrap(a: Adapters) -> Handlers:
    """Teaching's handlers on the real adapters (the tests compose the in-memory ones)."""
    codes = CheckinCodes(deployment_secret(a.settings.keys_dir))
    return Handlers(a.commands, Reads(a.db), a.clock, codes)


DEFINITION = ServiceDefinition(
    name="teaching",
    title="训中 · 教学管理（课程、师资、现场教学点、课次、考勤、学时、结业）",
    description="课程库与师资库、教学计划、排课（冲突检查）、考勤与请假、学时台账（含网络学习）、结业评定与课程评价；"
    "班级名册由选学服务的事件生成。事件发布到 Kafka 主题 ganxun.teaching.<行政区划代码>。",
    projections=PROJECTIONS,
    routes=api.router,
    compose=bootstrap,
    workers={"closer": closer.run},
    consumer_options=kafka.county_fetch(),  # what its projectors hold fetched (shared/kafka.py)
)
