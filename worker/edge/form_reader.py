"""An upload's model read at the edge (thin JS adapter over form_fields): only its head is read, and the request
forwarded carries the same bytes — the head already read, then the rest of the client's stream as it arrives.

For keys with a model list only (model_choice): every other upload streams through untouched. The head is held
against the isolate's budget of request bytes (body_limit.Claim) like a JSON body.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import js
from pyodide.ffi import JsException, create_proxy

from bridge.js_interop import header, js_dict
from bridge.streams import cancel_reader
from edge.form_fields import FormHead, PartWatch, boundary_of
from rules import errors
from rules.body_limit import Claim
from tasks import background


class Upload:
    """The form's model fields (form_fields.FormHead.models), and the request to forward in place of the client's
    as the edge reads one (`js_object`, `url`): built only when it is sent, so a refused upload is read no
    further than its head."""

    def __init__(self, incoming: Any, reader: Any, read: list[Any], watch: PartWatch | None,
                 models: list[object]) -> None:
        self.models = models
        self.url = str(incoming.url)
        self._incoming, self._reader, self._read, self._watch = incoming, reader, read, watch

    @cached_property
    def js_object(self) -> Any:
        self._reader.releaseLock()
        incoming = self._incoming
        body = _resumed(self._read, incoming.body, self._watch)
        init = {"method": incoming.method, "headers": incoming.headers, "body": body, "duplex": "half"}
        return js.Request.new(self.url, js_dict(init))


async def read_upload(incoming: Any, claim: Claim) -> Upload | errors.GatewayError:
    """Reads the head of the JS `incoming` request's multipart body; refuses one whose model fields cannot be
    known from it (errors.model_required), or that the isolate has no room for (errors.gateway_busy)."""
    boundary = boundary_of(header(incoming.headers, "content-type"))
    if boundary is None:
        return errors.model_required("send its form as multipart/form-data with a plain boundary, in UTF-8")
    reader = incoming.body.getReader()
    head, read = FormHead(boundary), []
    try:
        while True:
            step = await reader.read()
            if step.done:
                head.close()
                break
            if not claim.take(step.value.byteLength):
                return _cancelled(reader, errors.gateway_busy())
            read.append(step.value)
            if head.feed(step.value.to_bytes()):
                break
    except JsException:
        return _cancelled(reader, errors.model_required("send the whole form"))  # the client's stream failed
    if head.refusal is not None:
        return _cancelled(reader, errors.model_required(head.refusal))
    watch = None if head.file_at is None else PartWatch(boundary)
    if watch is not None and watch.feed(head.after_file()) is not None:
        return _cancelled(reader, errors.model_required(
            "send its form fields before its file, and nothing after the file"))
    return Upload(incoming, reader, read, watch, head.models)


def _cancelled(reader: Any, error: errors.GatewayError) -> errors.GatewayError:
    """Stops reading a refused upload: the rest is never pulled from the client."""
    background(cancel_reader(reader, "upload refused"))
    return error



def _resumed(read: list[Any], body: Any, watch: PartWatch | None) -> Any:
    """The chunks already read, then the rest of `body`: through `watch` (after a file), which may end it early."""

    def start(controller: Any) -> None:
        for chunk in read:
            controller.enqueue(chunk)

    def transform(chunk: Any, controller: Any) -> None:
        cut = None if watch is None else watch.feed(chunk.to_bytes())
        if cut is None:
            controller.enqueue(chunk)
            return
        if cut:
            controller.enqueue(chunk.subarray(0, cut))
        controller.terminate()  # LiteLLM gets a form whose file never ends: it refuses the form

    proxies = [create_proxy(start), create_proxy(transform)]
    pipe = js.TransformStream.new(js_dict({"start": proxies[0], "transform": proxies[1]}))

    async def pump() -> None:
        try:
            await body.pipeTo(pipe.writable)
        except JsException:
            pass  # ended early above, or the client went away: the forwarded request says which
        finally:
            for proxy in proxies:
                proxy.destroy()

    background(pump())
    return pipe.readable
