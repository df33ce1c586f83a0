"""The Official Account events beyond the lifecycle ones in `parser.py`.

Each documented event becomes either
- an `event` message in the customer's conversation, with a short Chinese / English line
  (menu scans and photo pickers, cards, invoices, orders, subscriptions, kf sessions), or
- a `PlatformNotice` for the channel's log when it is about the account rather than a
  conversation (template and mass-send job results, verification and naming results,
  card reviews and stock): those are not chat.
Names and fields follow wechatpy's `events.py` and WeRoBot's parser, whose test suites the
samples in `../shared/wechat_corpus.json` come from (channels.md §1.2, "Other events").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Fields = Mapping[str, Any]
# (Chinese, English) for an event; the callable builds them from the push's fields.
Describe = Callable[[Fields], tuple[str, str, dict[str, Any]]]


def text(fields: Fields, *path: str) -> str:
    """A leaf value by path through nested children; "" when absent or not a leaf."""
    value: Any = fields
    for tag in path:
        value = value.get(tag) if isinstance(value, Mapping) else None
    return value.strip() if isinstance(value, str) else ""


def _fixed(zh: str, en: str, *keys: str) -> Describe:
    def describe(f: Fields) -> tuple[str, str, dict[str, Any]]:
        return zh, en, {k: text(f, k) for k in keys if text(f, k)}

    return describe


def _scancode(f: Fields) -> tuple[str, str, dict[str, Any]]:
    result = text(f, "ScanCodeInfo", "ScanResult")
    kind = text(f, "ScanCodeInfo", "ScanType")
    extra = {"event_key": text(f, "EventKey"), "scan_type": kind, "scan_result": result}
    return f"通过菜单扫码：{result}", f"scanned a code from the menu: {result}", extra


def _pictures(f: Fields) -> tuple[str, str, dict[str, Any]]:
    count = text(f, "SendPicsInfo", "Count") or "?"
    extra = {"event_key": text(f, "EventKey"), "count": count}
    return f"通过菜单发送了 {count} 张图片", f"sent {count} picture(s) from the menu", extra


def _location_select(f: Fields) -> tuple[str, str, dict[str, Any]]:
    label = text(f, "SendLocationInfo", "Label")
    extra: dict[str, Any] = {"event_key": text(f, "EventKey"), "label": label}
    for tag, key in (("Location_X", "latitude"), ("Location_Y", "longitude")):
        try:
            extra[key] = float(text(f, "SendLocationInfo", tag))
        except ValueError:
            extra[key] = None
    return f"通过菜单发送了位置：{label}", f"sent a location from the menu: {label}", extra


def _kf_session(action_zh: str, action_en: str) -> Describe:
    def describe(f: Fields) -> tuple[str, str, dict[str, Any]]:
        account = text(f, "KfAccount") or text(f, "ToKfAccount")
        extra = {k: text(f, k) for k in ("KfAccount", "FromKfAccount", "ToKfAccount") if text(f, k)}
        return f"客服账号 {account} {action_zh}", f"kf account {account} {action_en}", extra

    return describe


def _subscribe_msg(zh: str, en: str, container: str) -> Describe:
    def describe(f: Fields) -> tuple[str, str, dict[str, Any]]:
        entries = f.get(container)
        items = entries.get("List") if isinstance(entries, Mapping) else None
        listed = items if isinstance(items, list) else [items] if isinstance(items, Mapping) else []
        templates = [
            {
                "template_id": text(i, "TemplateId"),
                "status": text(i, "SubscribeStatusString") or text(i, "ErrorStatus"),
            }
            for i in listed
            if isinstance(i, Mapping)
        ]
        states = "、".join(t["status"] for t in templates if t["status"])
        return f"{zh}（{states}）", f"{en} ({states})", {"templates": templates}

    return describe


def _merchant_order(f: Fields) -> tuple[str, str, dict[str, Any]]:
    order = text(f, "OrderId")
    extra = {"order_id": order, "order_status": text(f, "OrderStatus")}
    extra["product_id"] = text(f, "ProductId")
    return f"在微信小店下单（订单 {order}）", f"placed an order in the shop ({order})", extra


def _card(zh: str, en: str) -> Describe:
    return _fixed(zh, en, "CardId", "UserCardCode")


# Events that belong in the customer's conversation.
CONVERSATION_EVENTS: dict[str, Describe] = {
    "scancode_push": _scancode,
    "scancode_waitmsg": _scancode,
    "pic_sysphoto": _pictures,
    "pic_photo_or_album": _pictures,
    "pic_weixin": _pictures,
    "location_select": _location_select,
    "view_miniprogram": _fixed(
        "通过菜单打开了小程序", "opened a mini program from the menu", "EventKey", "MenuId"
    ),
    "kf_create_session": _kf_session("接入了会话", "took the session"),
    "kf_close_session": _kf_session("关闭了会话", "closed the session"),
    "kf_switch_session": _kf_session("转接了会话", "was handed the session"),
    "subscribe_msg_popup_event": _subscribe_msg(
        "回应了订阅消息弹窗", "answered a subscription prompt", "SubscribeMsgPopupEvent"
    ),
    "subscribe_msg_change_event": _subscribe_msg(
        "更改了订阅消息设置", "changed a message subscription", "SubscribeMsgChangeEvent"
    ),
    "subscribe_msg_sent_event": _subscribe_msg(
        "收到了订阅消息", "was sent a subscription message", "SubscribeMsgSentEvent"
    ),
    "merchant_order": _merchant_order,
    "user_get_card": _card("领取了卡券", "claimed a card"),
    "user_gifting_card": _card("转赠了卡券", "gave a card away"),
    "user_del_card": _card("删除了卡券", "deleted a card"),
    "user_consume_card": _card("核销了卡券", "redeemed a card"),
    "user_pay_from_pay_cell": _card("使用卡券买单", "paid with a card"),
    "user_view_card": _card("查看了会员卡", "viewed the member card"),
    "user_enter_session_from_card": _card("从卡券进入了会话", "came to the chat from a card"),
    "update_member_card": _card("会员卡积分或余额有变动", "member card points or balance changed"),
    "submit_membercard_user_info": _card("提交了会员卡资料", "submitted member card details"),
    "user_authorize_invoice": _fixed("授权了开票", "authorized an invoice", "SuccOrderId"),
    "update_invoice_status": _fixed("发票状态更新", "invoice status updated", "Status"),
    "submit_invoice_title": _fixed("提交了发票抬头", "submitted an invoice title", "title"),
    "user_scan_product": _fixed(
        "扫描了商品条码", "scanned a product code", "KeyStandard", "KeyStr"
    ),
    "user_scan_product_enter_session": _fixed(
        "扫描商品后进入了会话", "came to the chat from a product scan", "KeyStandard", "KeyStr"
    ),
    "user_scan_product_async": _fixed(
        "扫描了商品（地理位置上报）", "product scan (location)", "KeyStandard", "KeyStr"
    ),
    "shakearoundusershake": _fixed("摇一摇周边", "shook for nearby beacons"),
    "wificonnected": _fixed("连上了门店 Wi-Fi", "connected to the shop's Wi-Fi", "ShopId"),
}


def _job(kind_zh: str, kind_en: str) -> Describe:
    def describe(f: Fields) -> tuple[str, str, dict[str, Any]]:
        status = text(f, "Status")
        extra = {"msg_id": text(f, "MsgID"), "status": status}
        for tag in ("TotalCount", "FilterCount", "SentCount", "ErrorCount"):
            if text(f, tag):
                extra[tag] = text(f, tag)
        return f"{kind_zh}完成：{status}", f"{kind_en} finished: {status}", extra

    return describe


# Events about the account: recorded in the channel's log, never shown as chat.
NOTICE_EVENTS: dict[str, Describe] = {
    "templatesendjobfinish": _job("模板消息发送", "template message send"),
    "masssendjobfinish": _job("群发", "mass send"),
    "qualification_verify_success": _fixed("资质认证成功", "qualification verified", "ExpiredTime"),
    "qualification_verify_fail": _fixed("资质认证失败", "qualification refused", "FailReason"),
    "naming_verify_success": _fixed("名称认证成功", "name verified", "ExpiredTime"),
    "naming_verify_fail": _fixed("名称认证失败", "name verification refused", "FailReason"),
    "annual_renew": _fixed("需要年审", "annual verification due", "ExpiredTime"),
    "verify_expired": _fixed("认证已过期", "verification expired", "ExpiredTime"),
    "card_pass_check": _fixed("卡券审核通过", "card approved", "CardId"),
    "card_not_pass_check": _fixed("卡券未通过审核", "card rejected", "CardId", "RefuseReason"),
    "card_sku_remind": _fixed("卡券库存不足", "card stock low", "CardId", "Detail"),
    "card_pay_order": _fixed("券点流水", "coupon points order", "OrderId", "Status"),
    "user_scan_product_verify_action": _fixed(
        "商品审核结果", "product review result", "KeyStandard", "KeyStr", "Result"
    ),
}
