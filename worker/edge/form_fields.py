"""The form fields an upload (multipart/form-data) sends before its file, read from the head of its body (pure).

For keys with a model list (model_choice): an upload names its model in a form field, and the edge must know
it before anything reaches LiteLLM, without holding the upload. SDKs send their fields before the file
(openai-python via httpx, `curl -F` in order), so the first HEAD_BYTES hold them. LiteLLM 1.108.7 reads the form
with Starlette's parser on python-multipart and then `get_form_data` (the last `model` wins, `model[]` makes a
list); that reading is mirrored on a strict subset of the format. A body outside the subset (another charset,
escapes or `*` parameters, a part without a name, a model field after the file) is refused rather than guessed
at, and nothing after the file reaches LiteLLM as another part (PartWatch): a later `model` would win there.
"""

from __future__ import annotations

import codecs
import re

HEAD_BYTES = 65_536  # how far into an upload its fields are looked for
MODEL_FIELDS = (b"model", b"model[]")  # the names get_form_data reads as the model (`model[]`: as a list)
FILE_AS_MODEL = b"<a file>"  # a file part under one of those names: LiteLLM's model becomes the upload itself
_MAX_BOUNDARY = 200  # RFC 2046 allows 70; anything much longer is not a client's honest boundary
# A `;`-separated parameter: a token name, `=`, a token or a quoted string with no escapes, quotes or `;`
# inside. python-multipart splits a header value the same way on exactly these (its `_parseparam`).
_PARAM = re.compile(r"[ \t]*([!#$%&'+.^_`|~0-9A-Za-z-]+)[ \t]*=[ \t]*(\"[^\"\\;]*\"|[^\"\\; \t]*)[ \t]*\Z")
_KIND = re.compile(r"[ \t]*[!#$%&'*+./^_`|~0-9A-Za-z-]*[ \t]*\Z")  # what precedes them: no quote to balance
_HEADER = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ ]*([^\r\n]*)\Z")  # python-multipart's header line


def options(value: str) -> dict[str, str] | None:
    """The parameters of a header value (`form-data; name="model"`) as python-multipart's
    `parse_options_header` reads them (names lowercased, quotes removed), or None outside the strict subset."""
    kind, *parts = value.split(";")
    if not _KIND.match(kind):
        return None
    found: dict[str, str] = {}
    for part in parts:
        match = _PARAM.match(part)
        if match is None or match.group(1).lower() in found:
            return None
        text = match.group(2)
        found[match.group(1).lower()] = text[1:-1] if text.startswith('"') else text
    return found


def boundary_of(content_type: str | None) -> bytes | None:
    """The boundary of a `multipart/form-data` Content-Type whose fields decode as UTF-8, else None."""
    found = options(content_type or "")
    if found is None or not 0 < len(found.get("boundary", "")) <= _MAX_BOUNDARY:
        return None
    try:
        if codecs.lookup(found.get("charset", "utf-8")).name != "utf-8":
            return None
        return found["boundary"].encode("latin-1")
    except (LookupError, UnicodeEncodeError):
        return None


def _decoded(raw: bytes) -> str:
    """A field as Starlette decodes it (`_user_safe_decode`): UTF-8, else Latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class FormHead:
    """Feed the body's chunks until `feed` says the head is read; then `refusal` says why the fields cannot be
    known, or `models` are the model fields in order and `file_at` is where the first file's content begins in
    the bytes fed (None: the form ended without a file)."""

    def __init__(self, boundary: bytes) -> None:
        self._first = b"--" + boundary + b"\r\n"
        self._delimiter = b"\r\n--" + boundary
        self._buf = b""
        self.models: list[object] = []
        self.refusal: str | None = None
        self.file_at: int | None = None

    def feed(self, chunk: bytes) -> bool:
        self._buf += chunk
        return self._read(final=False)

    def close(self) -> None:
        """The body ended: what is read so far is all there is."""
        self._read(final=True)

    def after_file(self) -> bytes:
        """What was fed after the first file's headers: the start of its content (a PartWatch's first bytes)."""
        return b"" if self.file_at is None else self._buf[self.file_at:]

    def _read(self, final: bool) -> bool:
        self.models = []
        if not self._buf.startswith(self._first):
            short = len(self._buf) < len(self._first) and self._first.startswith(self._buf)
            return self._refuse("it does not begin with its boundary", final or not short)
        at = len(self._first)
        while True:
            end = self._buf.find(b"\r\n\r\n", at, HEAD_BYTES)
            if end == -1:
                return self._refuse("its fields do not come first", final or len(self._buf) >= HEAD_BYTES)
            disposition = self._disposition(self._buf[at:end])
            if disposition is None:
                return self._refuse("a part's headers are not plain form-data", True)
            name, is_file = disposition
            if is_file:
                if name in MODEL_FIELDS:
                    self.models.append(FILE_AS_MODEL)
                self.file_at = end + 4
                return True
            value_end, then = self._value_end(end + 4)
            if value_end is None:
                plain = then is None
                return self._refuse("its fields do not come first" if plain else "a part delimiter is not plain",
                                    final or not plain or len(self._buf) >= HEAD_BYTES)
            if name in MODEL_FIELDS:
                value = _decoded(self._buf[end + 4:value_end])
                self.models.append([value] if name == b"model[]" else value)
            if then == "end":
                return True
            at = value_end + len(self._delimiter) + 2

    def _refuse(self, why: str, decided: bool) -> bool:
        if decided:
            self.refusal = f"send its form fields before its file, as plain form-data ({why})"
        return decided

    @staticmethod
    def _disposition(block: bytes) -> tuple[bytes, bool] | None:
        """(field name, whether the part is a file) from a part's header lines, or None when they are not the
        plain kind: one Content-Disposition with a `name` (a `filename` makes the part a file, as in Starlette)."""
        dispositions = []
        for line in block.split(b"\r\n"):
            match = _HEADER.match(line)
            if match is None:
                return None
            if match.group(1).lower() == b"content-disposition":
                dispositions.append(match.group(2).decode("latin-1"))
        found = options(dispositions[0]) if len(dispositions) == 1 else None
        if found is None or "name" not in found:
            return None
        return found["name"].encode("latin-1"), "filename" in found

    def _value_end(self, start: int) -> tuple[int | None, str | None]:
        """Where the field starting at `start` ends and what follows ("next" part or "end" of the form);
        (None, None) while its end is not in the head, (None, "odd") at a delimiter that is not a plain one."""
        at = start
        while (found := self._buf.find(self._delimiter, at, HEAD_BYTES)) != -1:
            tail = found + len(self._delimiter)
            if tail + 2 > len(self._buf):
                return None, None  # what follows the delimiter has not arrived yet
            after = self._buf[tail:tail + 2]
            if after in (b"\r\n", b"--"):
                return found, "next" if after == b"\r\n" else "end"
            if after[:1] in (b"\r", b"-", b" ", b"\t"):
                return None, "odd"  # what python-multipart reads as a padded or broken delimiter: not guessed at
            at = found + 1  # the boundary's text inside a value: python-multipart reads it as data too
        return None, None


class PartWatch:
    """After the first file's headers: how far an upload may go on. It ends just before a part delimiter that
    opens (or pads) another part, so no field after the file reaches LiteLLM to override one before it: the file
    then never ends, and LiteLLM refuses the form. The closing delimiter (`--` after the boundary) passes."""

    def __init__(self, boundary: bytes) -> None:
        self._delimiter = b"\r\n--" + boundary
        self._carry = b""  # the end of what passed: a delimiter may straddle two chunks

    def feed(self, chunk: bytes) -> int | None:
        """None: all of `chunk` may pass; else how many of its first bytes may, and then the upload ends."""
        data = self._carry + chunk
        at = 0
        while (found := data.find(self._delimiter, at)) != -1:
            after = found + len(self._delimiter)
            if after >= len(data):
                break
            if data[after:after + 1] in (b"\r", b" ", b"\t"):
                return max(0, found - len(self._carry))
            at = found + 1
        self._carry = data[-len(self._delimiter):]
        return None
