"""Reading (and writing the little that is rewritten of) a wasm module's binary format.

What wbspawn inspects or edits in a module itself is small (an export's name, whether stack
checks start wide open), and a Python reader of sections and LEB128 numbers does it in
milliseconds without another tool on the machine.
"""

from __future__ import annotations

from wbspawn.errors import WbspawnError

IMPORT, FUNCTION, GLOBAL, EXPORT, CODE = 2, 3, 6, 7, 10
_MAGIC = b"\0asm"


class WasmFormatError(WbspawnError):
    """The bytes are not a wasm module, or one cut short."""


class Reader:
    def __init__(self, data: bytes | bytearray, pos: int = 0, end: int | None = None) -> None:
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise WasmFormatError("truncated wasm module")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    def sleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if b & 0x40:
                    result -= 1 << shift
                return result

    def name(self) -> str:
        size = self.uleb()
        text = bytes(self.data[self.pos : self.pos + size]).decode("utf-8", "replace")
        self.pos += size
        return text

    def skip(self, count: int) -> None:
        self.pos += count


def uleb(value: int) -> bytes:
    """`value` as an unsigned LEB128 number."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def section_spans(data: bytes | bytearray) -> list[tuple[int, int, int, int]]:
    """Every section: (id, where its header starts, where its body starts, where it ends)."""
    if bytes(data[:4]) != _MAGIC:
        raise WasmFormatError("not a wasm module")
    spans: list[tuple[int, int, int, int]] = []
    reader = Reader(data, 8)
    while reader.pos < len(data):
        start = reader.pos
        section = reader.byte()
        size = reader.uleb()
        spans.append((section, start, reader.pos, reader.pos + size))
        reader.skip(size)
    if reader.pos != len(data):
        raise WasmFormatError("truncated wasm module")
    return spans


def sections(data: bytes | bytearray) -> dict[int, tuple[int, int]]:
    """The body of each known section by id (custom sections, which may repeat, left out)."""
    return {section: (body, end) for section, _, body, end in section_spans(data) if section}


def rename_export(data: bytes, old: str, new: str) -> bytes | None:
    """`data` with its export `old` named `new`; None if it exports nothing by that name."""
    for section, start, body, end in section_spans(data):
        if section != EXPORT:
            continue
        reader = Reader(data, body, end)
        entries = bytearray()
        count = reader.uleb()
        found = False
        for _ in range(count):
            name = reader.name()
            rest = reader.pos
            reader.byte()  # the kind
            reader.uleb()  # the index
            if name == old:
                name, found = new, True
            encoded = name.encode("utf-8")
            entries += uleb(len(encoded)) + encoded + data[rest : reader.pos]
        if not found:
            return None
        contents = uleb(count) + bytes(entries)
        return data[:start] + bytes([EXPORT]) + uleb(len(contents)) + contents + data[end:]
    return None
