"""The accounts service's definition: what the runtime composes."""

from services.accounts import api
from services.accounts.projections import PROJECTIONS
from shared.runtime import ServiceDefinition

DEFINITION = ServiceDefinition(
    name="accounts",
    title="账号管理（开通、停用、重置密码；账号在身份认证服务 Keycloak 中）",
    description="管理员在本辖区及下级开通、停用、启用账号和重置密码，为干部名册中的干部一步开通学员账号，"
    "按单位查看账号列表。账号与密码保存在身份认证服务（Keycloak 或省级统一身份认证）中；"
    "每次变更以事件记录操作人，发布到 Kafka 主题 ganxun.accounts.<行政区划代码>。",
    projections=PROJECTIONS,
    routes=api.routes,
)
