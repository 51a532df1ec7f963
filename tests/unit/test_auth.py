import pytest

from shared.auth import Verifier, ensure_dev_keys, issue_token
from shared.errors import Forbidden, Unauthenticated


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return ensure_dev_keys(tmp_path_factory.mktemp("keys"))


def test_token_round_trip(keys):
    token = issue_token(keys[0], user_id="u1", name="王五", role="unit", jurisdiction="371428")
    who = Verifier(public_pem=keys[1]).verify(f"Bearer {token}")
    assert (who.user_id, who.name, who.role, who.jurisdiction) == ("u1", "王五", "unit", "371428")


def test_missing_bad_and_foreign_tokens_are_401(keys, tmp_path):
    v = Verifier(public_pem=keys[1])
    with pytest.raises(Unauthenticated, match="缺少"):
        v.verify(None)
    with pytest.raises(Unauthenticated, match="无效"):
        v.verify("Bearer abc.def.ghi")
    other = ensure_dev_keys(tmp_path)
    forged = issue_token(other[0], user_id="x", name="x", role="admin", jurisdiction="430000")
    with pytest.raises(Unauthenticated, match="无效"):
        v.verify(f"Bearer {forged}")
    expired = issue_token(keys[0], user_id="x", name="x", role="unit", jurisdiction="371428", ttl_seconds=-10)
    with pytest.raises(Unauthenticated, match="过期"):
        v.verify(f"Bearer {expired}")


def test_roles_and_jurisdictions_are_403(keys):
    v = Verifier(public_pem=keys[1])
    county = v.verify("Bearer " + issue_token(keys[0], user_id="u", name="n", role="unit", jurisdiction="371428"))
    province = v.verify("Bearer " + issue_token(keys[0], user_id="p", name="n", role="analyst", jurisdiction="430000"))
    with pytest.raises(Forbidden, match="无权执行"):
        county.require_role("org_department")
    with pytest.raises(Forbidden, match="530129"):
        county.require_covers("530129")
    province.require_covers("431121")
    with pytest.raises(Forbidden):
        province.require_covers("371428")


def test_unknown_role_is_refused(keys):
    with pytest.raises(ValueError, match="未知角色"):
        issue_token(keys[0], user_id="u", name="n", role="boss", jurisdiction="371428")


def test_processes_starting_together_on_a_fresh_folder_share_one_key_pair(tmp_path):
    # `ganxun up` spawns five services at once on a fresh state folder; each must verify
    # with the public key the CLI signs with, or every token is "invalid".
    import subprocess
    import sys
    import time

    go = tmp_path / "go"
    code = ("import sys, time; from pathlib import Path; from shared.auth import ensure_dev_keys\n"
            "while not Path(sys.argv[2]).exists(): time.sleep(0.001)\n"
            "sys.stdout.write(ensure_dev_keys(Path(sys.argv[1]))[1].decode())")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "keys"), str(go)], stdout=subprocess.PIPE)
             for _ in range(8)]
    time.sleep(1.5)                      # every process imported and waiting: then all at once
    go.touch()
    publics = {p.communicate(timeout=60)[0] for p in procs}
    assert len(publics) == 1
    assert publics == {ensure_dev_keys(tmp_path / "keys")[1]}
