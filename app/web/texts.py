"""The few words the server renders itself (the sign-in page); the inbox translates in JS."""

from __future__ import annotations

LOGIN_TEXTS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "登录 · 汇流",
        "heading": "汇流客服工作台",
        "tagline": "所有渠道的客户消息，汇入一个实时收件箱",
        "email": "邮箱",
        "password": "密码",
        "submit": "登录",
        "wrong": "邮箱或密码不正确。",
        "too_many": "登录失败次数过多，请 15 分钟后再试。",
        "cross_site": "登录请求来自其他网站，已拒绝。",
        "other_lang": "English",
        "other_code": "en",
    },
    "en": {
        "title": "Sign in · Huiliu",
        "heading": "Huiliu agent workspace",
        "tagline": "Every channel's customers in one live inbox",
        "email": "Email",
        "password": "Password",
        "submit": "Sign in",
        "wrong": "Wrong email or password.",
        "too_many": "Too many failed sign-ins. Try again in 15 minutes.",
        "cross_site": "This sign-in came from another website and was refused.",
        "other_lang": "中文",
        "other_code": "zh-CN",
    },
}


def login_texts(lang: str) -> dict[str, str]:
    return LOGIN_TEXTS.get(lang, LOGIN_TEXTS["zh-CN"])
