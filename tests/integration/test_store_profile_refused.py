"""The `mongodb` store profile is refused on FerretDB at start (shared/store.py, `refuse_unfit`),
against the real FerretDB of the fixtures: its bulk commands of up to 1,000 operations wedge
FerretDB for good (300 replaces in one command did, with a pool of 200), so a service given
GANXUN_STORE_PROFILE=mongodb over a FerretDB store stops at start with a Chinese message naming
the setting, before it writes anything; the `ferretdb` profile starts on the same store."""

from __future__ import annotations

import pytest
from pymongo import AsyncMongoClient

from services.selection.service import DEFINITION as SELECTION
from shared import store
from shared.runtime import Runtime
from tests.support import random_county, settings

pytestmark = pytest.mark.integration


@pytest.fixture
async def ferretdb(servers):
    client = AsyncMongoClient(servers.mongodb, tz_aware=True)
    info = await client.admin.command("buildInfo")
    if "ferretdbVersion" not in info:
        await client.close()
        pytest.skip("本次运行的存储不是 FerretDB（the run's store is not FerretDB: nothing to refuse）")
    before = store.profile()
    try:
        yield client
    finally:
        store.use(before)  # a Runtime sets the process's profile
        await client.close()


async def test_the_mongodb_profile_is_refused_on_ferretdb_at_start_naming_the_setting(servers, ferretdb):
    county = random_county()
    refused = Runtime(SELECTION, settings("selection", servers, [county], store_profile="mongodb"))
    try:
        with pytest.raises(store.UnfitStore) as err:
            await refused.start()
    finally:
        await refused.stop()
    message = str(err.value)
    assert "GANXUN_STORE_PROFILE=mongodb" in message and "FerretDB" in message, message
    assert "GANXUN_STORE_PROFILE=ferretdb" in message, message  # what to do instead
    assert refused.settings.database_name not in await ferretdb.list_database_names()

    fitting = Runtime(SELECTION, settings("selection", servers, [county], store_profile="ferretdb"))
    try:
        await fitting.start(("relay",))
        assert fitting.settings.database_name in await ferretdb.list_database_names()
    finally:
        await fitting.stop()
