"""The monitors' webhooks: POST /alerts/alertmanager, /alerts/grafana and /alerts/webhook.

Each endpoint, in this order:

* answers 404 when its token is not configured (as if it did not exist);
* needs `Authorization: Bearer <token>` (compared in constant time): missing or wrong is
  401, and nothing is read further;
* reads at most `max_body_bytes` (FIREWATCH_ALERT_MAX_BODY_BYTES): a larger Content-Length,
  or a streamed body that grows past it, is 413. The body is read from the stream here, so
  this limit applies rather than the web app's `client_max_size`;
* a body that is not UTF-8 JSON is 400 `{"error": …, "field": null}`, one the parser
  refuses is 400 naming the field (bot/domain/alert_payloads.py);
* hands the batch to the receiver; if that raises, 503 with an error reference that is
  logged (nothing was stored; the monitor sends it again). Never a 500, never a traceback;
* 200 `{"status": "stored", …the receipt's fields}`.

Every request is counted in firewatch_alert_requests_total{source, outcome}, and the
alerts of a stored body in firewatch_alerts_received_total{source, status}. The token is
never logged, nor the body.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from pydantic import SecretStr

from bot.domain.alert_payloads import parse_alertmanager, parse_generic, parse_grafana
from bot.domain.alerts import AlertBatch, AlertIntakeBusy, AlertPayloadError, AlertSource
from bot.domain.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
READ_CHUNK = 64 * 1024
Parser = Callable[[object], AlertBatch]


class AlertReceiver(Protocol):
    """Stores a batch (bot.services.alerts.AlertDesk); its answer goes into the reply."""

    async def receive(self, batch: AlertBatch) -> Any: ...


class AlertCounters(Protocol):
    """What the endpoints count (bot.runtime.metrics.Metrics has both)."""

    def alert_request(self, source: str, outcome: str) -> None: ...

    def alerts_received(self, source: str, status: str, count: int) -> None: ...


@dataclass(frozen=True)
class AlertTokens:
    """Each endpoint's bearer token; None: that endpoint answers 404."""

    alertmanager: str | None = None
    grafana: str | None = None
    webhook: str | None = None

    @classmethod
    def from_secrets(
        cls,
        alertmanager: SecretStr | None,
        grafana: SecretStr | None,
        webhook: SecretStr | None,
    ) -> AlertTokens:
        def value(secret: SecretStr | None) -> str | None:
            return (secret.get_secret_value() or None) if secret is not None else None

        return cls(value(alertmanager), value(grafana), value(webhook))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={'set' if getattr(self, name) else None}"
            for name in ("alertmanager", "grafana", "webhook")
        )
        return f"AlertTokens({shown})"


class _Refusal(Exception):
    def __init__(
        self, status: int, outcome: str, error: str, field: str | None = None, *, retry: int = 30
    ) -> None:
        super().__init__(error)
        self.status = status
        self.outcome = outcome
        self.error = error
        self.field = field
        self.retry = retry  # a 503's Retry-After, in seconds


def alert_routes(
    receiver: AlertReceiver,
    tokens: AlertTokens,
    metrics: AlertCounters,
    clock: Clock,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> list[web.RouteDef]:
    """The three webhook routes, for the web app's `extra_routes`."""
    intake = _AlertIntake(receiver, metrics, max_body_bytes)

    async def alertmanager_alerts(request: web.Request) -> web.Response:
        return await intake.handle(
            request, AlertSource.ALERTMANAGER, tokens.alertmanager, parse_alertmanager
        )

    async def grafana_alerts(request: web.Request) -> web.Response:
        return await intake.handle(request, AlertSource.GRAFANA, tokens.grafana, parse_grafana)

    async def webhook_alerts(request: web.Request) -> web.Response:
        def parse(body: object) -> AlertBatch:
            return parse_generic(body, received_at=clock.now())

        return await intake.handle(request, AlertSource.WEBHOOK, tokens.webhook, parse)

    return [
        web.post("/alerts/alertmanager", alertmanager_alerts),
        web.post("/alerts/grafana", grafana_alerts),
        web.post("/alerts/webhook", webhook_alerts),
    ]


class _AlertIntake:
    def __init__(self, receiver: AlertReceiver, metrics: AlertCounters, limit: int) -> None:
        self.receiver = receiver
        self.metrics = metrics
        self.limit = limit

    async def handle(
        self, request: web.Request, source: str, token: str | None, parse: Parser
    ) -> web.Response:
        try:
            batch = await self._batch(request, source, token, parse)
            receipt = await self._store(batch, source)
        except _Refusal as refusal:
            self.metrics.alert_request(source, refusal.outcome)
            return _refusal_response(refusal)
        self.metrics.alert_request(source, "stored")
        for status in ("firing", "resolved"):
            count = sum(1 for alert in batch.alerts if alert.status == status)
            if count:
                self.metrics.alerts_received(source, status, count)
        return _json({**_fields(receipt), "status": "stored"}, 200)

    async def _batch(
        self, request: web.Request, source: str, token: str | None, parse: Parser
    ) -> AlertBatch:
        if not token:
            raise _Refusal(404, "not_found", "not found")
        if not _authorized(request, token):
            raise _Refusal(401, "unauthorized", "unauthorized: send Authorization: Bearer <token>")
        raw = await self._read(request)
        try:
            body = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise _Refusal(400, "bad_request", "the body is not UTF-8") from None
        except (ValueError, RecursionError):
            raise _Refusal(400, "bad_request", "the body is not JSON") from None
        try:
            return parse(body)
        except AlertPayloadError as exc:
            log.info("%s alerts refused: %s", source, exc.field)
            raise _Refusal(400, "bad_request", exc.problem, exc.field) from None
        except Exception:
            raise _failure(source, "alert body could not be parsed") from None

    async def _read(self, request: web.Request) -> bytes:
        too_large = _Refusal(413, "too_large", f"the body is over {self.limit} bytes")
        length = request.content_length
        if length is not None and length > self.limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        while chunk := await request.content.read(READ_CHUNK):
            size += len(chunk)
            if size > self.limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    async def _store(self, batch: AlertBatch, source: str) -> Any:
        try:
            return await self.receiver.receive(batch)
        except AlertIntakeBusy as busy:  # shed: a monitor retries, a queue would only grow
            log.warning("%s alerts refused: intake busy", source)
            raise _Refusal(
                503, "busy", "too many notifications at once; send again", retry=busy.retry_after
            ) from None
        except Exception:
            raise _failure(source, "alert batch not stored") from None


def _authorized(request: web.Request, token: str) -> bool:
    given = request.headers.get("Authorization", "").encode("utf-8", "surrogatepass")
    return hmac.compare_digest(given, f"Bearer {token}".encode("utf-8", "surrogatepass"))


def _failure(source: str, what: str) -> _Refusal:
    """A 503 for a failure of ours, logged (with its traceback) under a short reference."""
    ref = uuid.uuid4().hex[:10]
    log.exception("%s: %s", what, source, extra={"error_ref": ref})
    return _Refusal(503, "unavailable", f"the alerts were not stored (ref {ref}); send again")


def _fields(receipt: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(receipt) and not isinstance(receipt, type):
        return dataclasses.asdict(receipt)
    if isinstance(receipt, Mapping):
        return dict(receipt)
    return {} if receipt is None else {"receipt": receipt}


def _refusal_response(refusal: _Refusal) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="firewatch"'} if refusal.status == 401 else {}
    if refusal.status == 503:
        headers["Retry-After"] = str(refusal.retry)
    return _json({"error": refusal.error, "field": refusal.field}, refusal.status, headers)


def _json(
    payload: dict[str, Any], status: int, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=json.dumps(payload, default=str),
        status=status,
        content_type="application/json",
        headers=headers,
    )
