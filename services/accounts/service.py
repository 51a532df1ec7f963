"""The accounts service's definition and bootstrap: what the runtime composes."""

from services.accounts import api
from services.accounts.handlers import Handlers
from services.accounts.keycloak import KeycloakDirectory, KeycloakSettings
from services.accounts.projections import PROJECTIONS
from services.accounts.reads import Reads
from shared.runtime import Adapters, ServiceDefinition


def bootstrap(a: Adapters) -> Handlers:
    """The handlers on the real adapters; the identity provider is Keycloak's admin API
    (GANXUN_ACCOUNTS_* settings), reached only when a command needs it."""
    return Handlers(a.commands, Reads(a.db), a.clock, KeycloakDirectory(KeycloakSettings()), a.settings)


DEFINITION = ServiceDefinition(
    name="accounts",
    title="账号管理（开通、停用、重置密码；账号在身份认证服务 Keycloak 中）",
    description="管理员在本辖区及下级开通、停用、启用账号和重置密码，为干部名册中的干部一步开通学员账号，"
    "按单位查看账号列表。账号与密码保存在身份认证服务（Keycloak 或省级统一身份认证）中；"
    "每次变更以事件记录操作人，发布到 Kafka 主题 ganxun.accounts.<行政区划代码>。",
    projections=PROJECTIONS,
    routes=api.router,
    compose=bootstrap,
)
