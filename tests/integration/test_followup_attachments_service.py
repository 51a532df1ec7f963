"""A mentor's evidence files against the real follow-up service (Kafka, FerretDB): what a
mentor uploads is judged by its bytes, refused in Chinese naming the file, stored with its
sha256, referred to by the task's event, and downloaded only by who may read the trainee's
file — as an attachment, never rendered by the browser."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest

from shared.clock import local_today
from shared.contracts.teaching import TraineeGraduated
from tests.support import ServiceProcess, auth, eventually, publish, random_county, settings

pytestmark = pytest.mark.integration

UNIT = "县水利局"
PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 36_000  # a 9 MB "photo": under the 10 MB limit
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048


@pytest.fixture(scope="module")
def county():
    return random_county()


@pytest.fixture(scope="module")
def service(servers, county, tmp_path_factory):
    proc = ServiceProcess(
        settings("followup", servers, [county]),
        log=tmp_path_factory.mktemp("fa") / "followup.log",
        components="api,relay,projectors,scheduler",
    )
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()


# long: one story against the real service; each step needs the upload and task the one before made
async def test_a_mentors_photo_is_stored_checked_and_downloaded_only_by_its_readers(service, servers, county):
    url, class_id = service.url, f"fa-{random_county()}"
    org = auth("org_department", county, "组织部李科长")
    mentor = auth("mentor", county, "王局长", user_id="M-1")
    await publish(
        servers.kafka,
        "teaching",
        county,
        f"class-{class_id}",
        [
            TraineeGraduated(
                class_id=class_id,
                cadre_id=c,
                name=n,
                unit=UNIT,
                graduated_on=local_today() - timedelta(days=20),
                hours=40,
                attendance_rate=1.0,
                class_title="水利干部专题培训班",
            )
            for c, n in {"A": "张伟", "B": "李娜"}.items()
        ],
    )

    async def filed():
        r = httpx.get(f"{url}/trainees/A/followup", headers=org)
        return r.status_code == 200

    await eventually(filed, timeout=60)
    r = httpx.put(
        f"{url}/classes/{class_id}/trainees/A/mentor",
        headers=org,
        json={"mentor_id": "M-1", "mentor_name": "王局长", "mentor_post": "局长"},
    )
    assert r.status_code == 201, r.text
    uploads = f"{url}/classes/{class_id}/trainees/A/attachments"

    def send(name: str, content: bytes, headers=mentor, content_type="image/jpeg") -> httpx.Response:
        return httpx.post(uploads, headers=headers, files={"file": (name, content, content_type)}, timeout=60)

    # Refused, in Chinese, naming the file: a page renamed to a photo, a photo named as a PDF,
    # a file over 10 MB (the browser's content type is not believed either way).
    for name, content, code in [
        ("现场照片.jpg", b"<html><script>alert(1)</script></html>", "file_type"),
        ("会议纪要.pdf", PNG, "file_name_mismatch"),
        ("航拍.jpg", PHOTO + b"\x00" * (2 * 1024 * 1024), "file_too_large"),
    ]:
        r = send(name, content)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == code and name in r.json()["message"], r.text
    # Only the trainee's current mentor uploads.
    r = send("现场.jpg", PHOTO, headers=auth("mentor", county, "赵局长", user_id="M-2"))
    assert r.status_code == 403 and r.json()["code"] == "not_the_mentor", r.text

    r = send("防汛会商现场.jpg", PHOTO)
    assert r.status_code == 201, r.text
    stored = r.json()
    assert stored["sha256"] == hashlib.sha256(PHOTO).hexdigest() and stored["size"] == len(PHOTO)
    r = httpx.post(
        f"{url}/classes/{class_id}/trainees/A/mentor-tasks",
        headers=mentor,
        json={
            "task": "urgent_matter",
            "evidence": "汛期险情处置记录",
            "comment": "处置果断",
            "attachments": [stored["attachment_id"]],
        },
    )
    assert r.status_code == 201, r.text

    async def referred():
        r = httpx.get(f"{url}/trainees/A/followup", headers=auth("trainee", county, "张伟", user_id="A"))
        task = r.json()["classes"][0]["tasks"].get("urgent_matter") if r.status_code == 200 else None
        return task and task["attachments"]

    (ref,) = await eventually(referred, timeout=30)
    assert (ref["attachment_id"], ref["sha256"], ref["name"]) == (
        stored["attachment_id"],
        stored["sha256"],
        "防汛会商现场.jpg",
    )

    download = f"{url}/attachments/{stored['attachment_id']}"
    for who in (auth("trainee", county, "张伟", user_id="A"), mentor, org, auth("unit", county, unit=UNIT)):
        r = httpx.get(download, headers=who, timeout=60)
        assert r.status_code == 200, r.text
        assert r.content == PHOTO
        assert r.headers["content-type"] == "image/jpeg"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-disposition"].startswith("attachment;")
        assert quote("防汛会商现场.jpg") in r.headers["content-disposition"]
    # Another trainee, another unit may not; for another county it is as if there were none.
    for who in (auth("trainee", county, "李娜", user_id="B"), auth("unit", county, unit="县财政局")):
        assert httpx.get(download, headers=who).status_code == 403
    r = httpx.get(f"{url}/attachments/no-such", headers=org)
    assert r.status_code == 404 and "附件" in r.json()["message"]
    theirs = httpx.get(download, headers=auth("org_department", random_county()))
    assert (theirs.status_code, theirs.json()["code"]) == (404, "attachment_not_found")
