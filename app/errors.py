"""Domain errors with a status code, rendered by one handler as {"detail": ...}."""

from __future__ import annotations


class HuiliuError(Exception):
    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(HuiliuError):
    status_code = 400


class Unauthorized(HuiliuError):
    status_code = 401


class Forbidden(HuiliuError):
    status_code = 403


class NotFound(HuiliuError):
    status_code = 404


class Conflict(HuiliuError):
    status_code = 409


class NotImplementedYet(HuiliuError):
    status_code = 501
