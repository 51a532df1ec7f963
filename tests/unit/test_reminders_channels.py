"""The reminders' channels against real local servers: mail through a local SMTP server
(aiosmtpd) arrives with its Chinese subject, sender name and the Message-ID of its natural
key; the webhook posts the reminder as JSON with its bearer token and reports a gateway's
refusal in Chinese."""

import asyncio
import email
import email.policy
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from aiosmtpd.controller import Controller

from deploy.local.process import free_port
from services.reminders.channels import EmailChannel, ReminderSettings, WebhookChannel, message_id
from services.reminders.domain import Message

MESSAGE = Message(
    subject="【干训提醒】请对张伟完成3个月跟踪评价", body="县财政局：贵单位张伟同志……", link="http://wb/"
)


class Inbox:
    def __init__(self) -> None:
        self.mail = []

    async def handle_DATA(self, server, session, envelope):
        self.mail.append(
            (envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=email.policy.default))
        )
        return "250 OK"


def test_mail_arrives_with_its_chinese_subject_and_natural_key():
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        channel = EmailChannel(ReminderSettings(email="smtp", smtp_host="127.0.0.1", smtp_port=smtp.port))
        mid = message_id("lead", "eval:k1:c1:3:unit", "email")
        asyncio.run(channel.send("lead@czj.example.gov.cn", MESSAGE, mid))
    finally:
        smtp.stop()
    [(to, msg)] = inbox.mail
    assert to == ["lead@czj.example.gov.cn"]
    assert msg["Subject"] == MESSAGE.subject and "干部教育培训提醒" in str(msg["From"])
    assert msg["Message-ID"] == mid == message_id("lead", "eval:k1:c1:3:unit", "email")
    assert msg.get_content().strip() == MESSAGE.body


def test_a_mail_server_that_is_not_there_is_an_error_the_sender_records():
    channel = EmailChannel(
        ReminderSettings(email="smtp", smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout=2)
    )
    with pytest.raises(OSError):
        asyncio.run(channel.send("lead@czj.example.gov.cn", MESSAGE, "<x@y>"))


def _gateway(status: int):
    got = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            got.append((self.headers.get("authorization"), json.loads(body)))
            self.send_response(status)
            self.end_headers()
            self.wfile.write("网关繁忙".encode())

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, got


def test_the_webhook_posts_the_reminder_as_json_to_the_gateway():
    server, got = _gateway(202)
    try:
        url = f"http://127.0.0.1:{server.server_port}/sms"
        asyncio.run(WebhookChannel(url, token="s3cret").send("13800000000", MESSAGE, "<k@ganxun>"))
    finally:
        server.shutdown()
    [(auth, body)] = got
    assert auth == "Bearer s3cret"
    assert body == {
        "to": "13800000000",
        "subject": MESSAGE.subject,
        "text": MESSAGE.body,
        "link": "http://wb/",
        "idempotency_key": "<k@ganxun>",
    }


def test_a_gateway_refusal_is_an_error_naming_its_answer():
    server, _ = _gateway(503)
    try:
        with pytest.raises(RuntimeError) as refused:
            asyncio.run(
                WebhookChannel(f"http://127.0.0.1:{server.server_port}/sms").send("1", MESSAGE, "<k>")
            )
    finally:
        server.shutdown()
    assert "503" in str(refused.value) and "网关繁忙" in str(refused.value)
