"""Zip archives from outside (a run or a dataset a learner uploads): every entry is checked before it is
decompressed (encryption, method, declared size, ratio) and bounded while it is, so no archive can make the
server decompress more than the caller's limit."""
from __future__ import annotations

import io
import zipfile
import zlib

MAX_ARCHIVE_BYTES = 64 << 20  # an uploaded archive; the server's maxUploadSize is this (.streamlit/config.toml)
MAX_RATIO = 200  # uncompressed / compressed size of any entry: weights and PNGs barely compress, JSON ~3-10x
_CHUNK = 1 << 20


def open_zip(data: bytes, error: type[Exception] = ValueError) -> zipfile.ZipFile:
    """The uploaded bytes as a zip (its directory read), refusing more than MAX_ARCHIVE_BYTES or what is no zip."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise error(f"refused: the file is {len(data):,} bytes, more than {MAX_ARCHIVE_BYTES:,}")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        zf.infolist()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
        raise error(f"this is not a zip file ({e})") from e
    return zf


def check_entry(info: zipfile.ZipInfo, limit: int, error: type[Exception] = ValueError) -> None:
    """Raise `error` (plain words) for an entry that is encrypted, compressed by a method other than stored or
    deflate, declares more than `limit` bytes, or expands more than MAX_RATIO times (a zip bomb)."""
    name = info.filename
    if info.flag_bits & 0x1:
        raise error(f"refused: {name} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise error(f"refused: {name} uses an unsupported compression")
    if info.file_size > limit:
        raise error(f"refused: {name} declares {info.file_size:,} bytes, more than {limit:,}")
    if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > 1 << 16:
        raise error(f"refused: {name} expands {info.file_size / max(info.compress_size, 1):,.0f}× "
                    f"(a zip bomb; at most {MAX_RATIO}× is accepted)")


def read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, error: type[Exception] = ValueError) -> bytes:
    """The entry's bytes after `check_entry`, refusing while decompressing when more comes out than declared."""
    check_entry(info, limit, error)
    out = bytearray()
    try:
        with zf.open(info) as f:
            while chunk := f.read(_CHUNK):
                out += chunk
                if len(out) > info.file_size:
                    break
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as e:
        raise error(f"refused: {info.filename} is damaged ({e})") from e
    if len(out) != info.file_size:
        raise error(f"refused: {info.filename} holds {len(out):,} bytes, its header says {info.file_size:,}")
    return bytes(out)
