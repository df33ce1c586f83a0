"""Lenient readers for Douyin JSON, where numbers may come as strings (brief §4.4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Codes the platform itself says to retry: 2100004 系统繁忙 [3p XiaoFeng.DouYin enum];
# 28001005 系统繁忙 / 28001006 网络调用错误 / 28029014 资源签发失败 (status-code and
# get-message-resources pages, as quoted by an integrator [3p]); 10001 系统异常
# (OAuth error table [3p]).
TRANSIENT_CODES = frozenset({10001, 2100004, 28001005, 28001006, 28029014})

# The access token was refused: 2190002 无效 / 2190008 过期 (IM and other open APIs),
# 10008 无效或过期 (OAuth), 28001003 无效 / 28001008 过期 (newer APIs) [3p, as above].
TOKEN_REJECTED_CODES = frozenset({2190002, 2190008, 10008, 28001003, 28001008})


def as_str(value: Any) -> str:
    """A stripped string; None and containers are empty."""
    if value is None or isinstance(value, (Mapping, list)):
        return ""
    return value.strip() if isinstance(value, str) else str(value)


def as_int(value: Any) -> int | None:
    """An int from an int or a numeric string; anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _section(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class PlatformError:
    """A refusal carried in a 200 answer (brief §4.3: the response shape is inconsistent)."""

    code: int
    sub_code: int
    description: str
    logid: str

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT_CODES or self.sub_code in TRANSIENT_CODES

    @property
    def token_rejected(self) -> bool:
        return self.code in TOKEN_REJECTED_CODES or self.sub_code in TOKEN_REJECTED_CODES

    def __str__(self) -> str:
        code = f"{self.code}" + (f"/{self.sub_code}" if self.sub_code else "")
        return f"[{code}] {self.description or '(no description)'} (logid {self.logid or '-'})"


def platform_error(payload: Mapping[str, Any]) -> PlatformError | None:
    """The first non-zero error in `extra`, `data` or a top-level `err_no`, else None."""
    extra, data = _section(payload, "extra"), _section(payload, "data")
    candidates = [
        (extra.get("error_code"), extra.get("description")),
        (data.get("error_code"), data.get("description")),
        (payload.get("err_no"), payload.get("err_msg")),
        (payload.get("error_code"), payload.get("description")),
    ]
    codes = [as_int(c) or 0 for c, _ in candidates]
    code = next((c for c in codes if c), 0)
    sub_code = as_int(extra.get("sub_error_code")) or 0
    if not code and not sub_code:
        return None
    parts = [as_str(d) for (_, d), c in zip(candidates, codes, strict=True) if c]
    parts.append(as_str(extra.get("sub_description")))
    description = " / ".join(dict.fromkeys(p for p in parts if p))
    logid = next((v for v in (as_str(extra.get("logid")), as_str(payload.get("log_id"))) if v), "")
    return PlatformError(code=code, sub_code=sub_code, description=description, logid=logid)
