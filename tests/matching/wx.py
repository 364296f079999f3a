"""WeChat official-account payloads for the webhook tests, built as WeChat builds them."""

from __future__ import annotations

import time

from puhui.matching import wechat


def signed(token: str, *, timestamp: int | None = None, nonce: str = "n0nce") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"signature": wechat.signature(token, ts, nonce), "timestamp": ts, "nonce": nonce}


def loan_xml(content: str, *, msg_id: str, openid: str = "oWx_user_1") -> bytes:
    return (
        "<xml><ToUserName><![CDATA[gh_puhui]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{msg_id}</MsgId></xml>"
    ).encode()
