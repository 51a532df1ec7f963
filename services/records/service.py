"""The records service's definition and bootstrap: what the runtime composes."""

from services.records import api, drawing
from services.records.handlers import Handlers
from services.records.projections import PROJECTIONS
from services.records.reads import Reads
from shared import kafka
from shared.runtime import Adapters, ServiceDefinition


def bootstrap(a: Adapters) -> Handlers:
    """The handlers over the real adapters; the PDF workers start now (drawing.py), so the
    first form asked for does not wait for them."""
    drawing.pool()
    return Handlers(a.commands, Reads(a.db), a.clock)


DEFINITION = ServiceDefinition(
    name="records",
    title="训中 · 纪实考察（3+N 实名纪实、量化考核、纪实考察记录表、干部肖像）",
    description=(
        "班主任、支部书记、班长及其他班委（3+N）对学员的学习情况、思想动态、性格特点、作风纪律实名纪实；"
        "记录永不删除、不修改，更正以新记录指向原记录；无遗漏检查；量化考核（湖州“三百分”26项为示例）"
        "每周小组讲评、每月小结与排名；组织部跟班记录；《干部教"
        "育培训纪实考察记录表》与干部“肖像”（网页与 PDF）。"
        "事件发布到 Kafka 主题 ganxun.records.<行政区划代码>；班级名册来自"
        " ganxun.selection.*，出勤与学时来自 ganxun.teaching.*。"
    ),
    projections=PROJECTIONS,
    routes=api.router,
    compose=bootstrap,
    consumer_options=kafka.county_fetch(),  # what its projectors hold fetched (shared/kafka.py)
)
