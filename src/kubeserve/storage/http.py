"""http(s):// models as KServe fetches them: a URL to a file puts that file at /mnt/models/<basename>; a URL to
a .tar, .tar.gz/.tgz, .tar.zst/.tzst or .zip archive (by name, or by Content-Type) is extracted there, safely.

The plan is one HEAD (a GET when the server refuses HEAD, as S3 presigned URLs do): its ETag or
Last-Modified plus Content-Length make the cache key, and a server that gives neither is simply not cached.
Files stream to disk in 1 MiB chunks; a big file from a server that accepts byte ranges is fetched in
parallel parts written at their offsets. Per-host request headers come from the `<host>-headers`
environment variable (a JSON object), KServe's convention; TLS trust from REQUESTS_CA_BUNDLE or
SSL_CERT_FILE in the context's environment (never this process's), `HTTPS_VERIFY=false` turns it off.

`stream_to_file` and `session_for` are shared with the hf:// provider, whose files are plain HTTP too.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import posixpath
import secrets
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import unquote, urlsplit

import requests
import zstandard

from kubeserve.storage.archives import Compression, extract_tar, extract_zip
from kubeserve.storage.errors import (
    AccessDenied,
    CredentialsError,
    DiskFull,
    InvalidStorageUri,
    ModelNotFound,
    StorageError,
    TransferError,
)
from kubeserve.storage.settings import StorageSettings
from kubeserve.storage.types import Context, Plan, Progress

CHUNK = 1 << 20
TIMEOUT = (15, 60)  # (connect, read) seconds
_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".tar.gz", "tar"), (".tgz", "tar"), (".tar.zst", "tar"), (".tzst", "tar"), (".tar", "tar"), (".zip", "zip"))
_TYPES = {"application/x-tar": "tar", "application/x-gtar": "tar", "application/zip": "zip",
          "application/x-zip-compressed": "zip", "application/zip-compressed": "zip"}


# -- pure decisions ----------------------------------------------------------------------------------------

def archive_kind(url_path: str, content_type: str | None) -> str | None:
    """"tar" (any compression, detected from the bytes), "zip", or None for a plain file."""
    name = unquote(url_path).lower()
    for suffix, kind in _SUFFIXES:
        if name.endswith(suffix):
            return kind
    return _TYPES.get((content_type or "").split(";")[0].strip().lower())


def file_name(url: str) -> str:
    """The basename a downloaded file gets (KServe: the URL path's last segment)."""
    name = posixpath.basename(unquote(urlsplit(url).path))
    return "" if name in (".", "..") else name


def content_key(url: str, etag: str | None, last_modified: str | None, length: str | None) -> str | None:
    """`http-<sha256>` of what identifies the bytes, or None when the server gives no validator."""
    validator = etag or last_modified
    if not validator:
        return None
    return "http-" + hashlib.sha256(f"{url}\n{validator}\n{length or ''}".encode()).hexdigest()


def host_headers(url: str, env: Mapping[str, str]) -> dict[str, str]:
    """KServe's per-host headers: `<hostname>-headers` holds a JSON object, e.g. {"Authorization": "Bearer …"}."""
    host = urlsplit(url).hostname or ""
    name = f"{host}-headers"
    text = env.get(name)
    if not text:
        return {}
    try:
        headers = json.loads(text)
    except ValueError:
        raise CredentialsError(f"{name} must be a JSON object of HTTP headers, e.g. "
                               '{"Authorization": "Bearer TOKEN"}; it is not valid JSON') from None
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise CredentialsError(f"{name} must be a JSON object mapping header names to strings")
    return {str(k): v for k, v in headers.items()}


def tls_verify(env: Mapping[str, str]) -> bool | str:
    if env.get("HTTPS_VERIFY", "").lower() in ("0", "false", "no"):
        return False
    return env.get("REQUESTS_CA_BUNDLE") or env.get("SSL_CERT_FILE") or True


def part_ranges(total: int, part_size: int) -> list[tuple[int, int]]:
    """Inclusive byte ranges covering `total` bytes in parts of `part_size`."""
    return [(start, min(start + part_size, total) - 1) for start in range(0, total, part_size)]


# -- HTTP --------------------------------------------------------------------------------------------------

def session_for(env: Mapping[str, str]) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # credentials, CAs and proxies come from the context, not this process
    session.verify = tls_verify(env)
    session.headers["Accept-Encoding"] = "identity"  # the bytes of the file, not a transfer encoding of them
    session.headers["User-Agent"] = "kubeserve-storage-initializer"
    return session


def check_status(response: requests.Response, url: str, hint: str = "") -> None:
    code = response.status_code
    if code < 400:
        return
    if code in (401, 403):
        raise AccessDenied(f"{url}: HTTP {code} {response.reason}: "
                           + (hint or f"set the request headers it needs in `{urlsplit(url).hostname}-headers` (a "
                                      "JSON object, e.g. {\"Authorization\": \"Bearer …\"}), or check the URL"))
    if code in (404, 410):
        raise ModelNotFound(f"{url}: HTTP {code} {response.reason}: nothing at that URL; check the storageUri")
    raise TransferError(f"{url}: HTTP {code} {response.reason}")


def request(session: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    try:
        return session.request(method, url, timeout=TIMEOUT, allow_redirects=True, **kwargs)
    except requests.exceptions.SSLError as err:
        raise TransferError(f"{url}: TLS verification failed ({err}); trust its CA with REQUESTS_CA_BUNDLE or "
                            "SSL_CERT_FILE") from None
    except requests.RequestException as err:
        raise TransferError(f"{url}: cannot fetch ({err})") from None


@dataclass(frozen=True)
class Remote:
    url: str
    length: int | None
    ranges: bool
    content_type: str | None
    key: str | None


def probe(session: requests.Session, url: str, headers: Mapping[str, str]) -> Remote:
    response = request(session, "HEAD", url, headers=headers)
    if response.status_code in (403, 405, 501):  # HEAD not allowed (or not signed for, as presigned URLs are)
        response = request(session, "GET", url, headers=headers, stream=True)
        response.close()
    check_status(response, url)
    length = response.headers.get("Content-Length")
    return Remote(url=response.url or url, length=int(length) if length and length.isdigit() else None,
                  ranges=response.headers.get("Accept-Ranges", "").lower() == "bytes",
                  content_type=response.headers.get("Content-Type"),
                  key=content_key(url, response.headers.get("ETag"), response.headers.get("Last-Modified"), length))


def stream_to_file(session: requests.Session, url: str, dest: Path, progress: Progress, *,
                   headers: Mapping[str, str], length: int | None = None, ranges: bool = False,
                   settings: StorageSettings | None = None, denied_hint: str = "") -> None:
    """Download `url` into the new file `dest`: ranged parts in parallel for a big file when the server
    allows, else one stream. ENOSPC becomes DiskFull; a short body, TransferError; 401/403 AccessDenied
    with `denied_hint` as the fix."""
    settings = settings or StorageSettings()
    try:
        if ranges and length and settings.concurrency > 1 and length > 2 * settings.part_size:
            _parallel(session, url, dest, progress, headers, length, settings, denied_hint)
        else:
            _single(session, url, dest, progress, headers, length, denied_hint)
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise DiskFull(f"no space left on the device writing {dest.name} from {url}: free space, or raise the "
                           "volume's size") from None
        raise TransferError(f"{url}: writing {dest} failed ({err})") from None


def _single(session: requests.Session, url: str, dest: Path, progress: Progress, headers: Mapping[str, str],
            length: int | None, denied_hint: str) -> None:
    done = 0
    with request(session, "GET", url, headers=headers, stream=True) as response:
        check_status(response, url, denied_hint)  # before the file exists: a refused URL leaves nothing behind
        with open(dest, "xb") as out:
            try:
                for chunk in response.raw.stream(CHUNK, decode_content=False):
                    out.write(chunk)
                    done += len(chunk)
                    progress.advance(len(chunk))
            except OSError:
                raise
            except Exception as err:  # urllib3's ProtocolError/ReadTimeoutError: the connection died
                raise TransferError(f"{url}: the download broke off after {done} bytes ({err})") from None
    if length is not None and done != length:
        raise TransferError(f"{url}: got {done} bytes of {length}; the server ended the response early")


def _parallel(session: requests.Session, url: str, dest: Path, progress: Progress, headers: Mapping[str, str],
              length: int, settings: StorageSettings, denied_hint: str) -> None:
    with open(dest, "xb") as out:
        out.truncate(length)  # sparse until written: each part pwrites at its own offset

        def fetch(span: tuple[int, int]) -> None:
            start, end = span
            part = {**headers, "Range": f"bytes={start}-{end}"}
            with request(session, "GET", url, headers=part, stream=True) as response:
                check_status(response, url, denied_hint)
                if response.status_code != 206:
                    raise TransferError(f"{url}: asked for bytes {start}-{end}, got HTTP {response.status_code}")
                offset = start
                try:
                    for chunk in response.raw.stream(CHUNK, decode_content=False):
                        os.pwrite(out.fileno(), chunk, offset)
                        offset += len(chunk)
                        progress.advance(len(chunk))
                except OSError:
                    raise
                except Exception as err:
                    raise TransferError(f"{url}: part {start}-{end} broke off ({err})") from None
                if offset != end + 1:
                    raise TransferError(f"{url}: part {start}-{end} ended after {offset - start} bytes")

        with ThreadPoolExecutor(settings.concurrency, thread_name_prefix="http-part") as pool:
            for _ in pool.map(fetch, part_ranges(length, settings.part_size)):
                pass


# -- the provider ------------------------------------------------------------------------------------------

class HttpProvider:
    schemes = ("http", "https")

    def plan(self, uri: str, context: Context) -> Plan:
        parts = urlsplit(uri)
        if not parts.hostname:
            raise InvalidStorageUri(f"{uri}: no host in the URL")
        headers = host_headers(uri, context.env)
        session = session_for(context.env)
        remote = probe(session, uri, headers)
        kind = archive_kind(parts.path, remote.content_type)
        name = file_name(uri)
        if kind is None and not name:
            raise InvalidStorageUri(f"{uri}: no file name in the URL (KServe saves a URL's last path segment as "
                                    "/mnt/models/<name>); point at a file or an archive")

        def download(stage: Path, progress: Progress) -> None:
            progress.set_total(remote.length)
            if kind == "tar":
                _extract_tar(session, uri, stage, progress, headers)
            elif kind == "zip":
                _extract_zip(session, uri, stage, progress, headers, remote, context.settings)
            else:
                stream_to_file(session, uri, stage / name, progress, headers=headers, length=remote.length,
                               ranges=remote.ranges, settings=context.settings)

        return Plan(source=uri, key=remote.key, total_bytes=remote.length, download=download)


class _Counting:
    """A response body as a file object that reports each read to the progress."""

    def __init__(self, raw: Any, progress: Progress) -> None:
        self.raw = raw
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        data = cast(bytes, self.raw.read(size if size and size > 0 else CHUNK, decode_content=False))
        self.progress.advance(len(data))
        return data


def _extract_tar(session: requests.Session, url: str, stage: Path, progress: Progress,
                 headers: Mapping[str, str]) -> None:
    compression: Compression = "auto"  # gzip/zstd/none from the magic bytes, whatever the name says
    with request(session, "GET", url, headers=headers, stream=True) as response:
        check_status(response, url)
        try:
            extract_tar(cast(IO[bytes], _Counting(response.raw, progress)), stage, compression=compression,
                        source=url)
        except StorageError:
            raise
        except OSError as err:
            if err.errno == errno.ENOSPC:
                raise DiskFull(f"no space left on the device extracting {url}: free space, or raise the volume's "
                               "size") from None
            raise TransferError(f"{url}: extracting failed ({err})") from None
        except (tarfile.TarError, zlib.error, zstandard.ZstdError, EOFError) as err:
            raise TransferError(f"{url}: not a readable tar archive ({err})") from None
        except Exception as err:  # the connection dying mid-archive (urllib3 errors)
            raise TransferError(f"{url}: the download broke off while extracting ({err})") from None


def _extract_zip(session: requests.Session, url: str, stage: Path, progress: Progress, headers: Mapping[str, str],
                 remote: Remote, settings: StorageSettings) -> None:
    # zip keeps its index at the end: download it whole (inside the stage, so nothing is left outside it)
    scratch = stage / f".kubeserve-download-{secrets.token_hex(6)}"
    scratch.mkdir()
    try:
        archive = scratch / "archive.zip"
        stream_to_file(session, url, archive, progress, headers=headers, length=remote.length, ranges=remote.ranges,
                       settings=settings)
        try:
            extract_zip(archive, stage, source=url)
        except zipfile.BadZipFile as err:
            raise TransferError(f"{url}: not a readable zip archive ({err})") from None
        except OSError as err:
            if err.errno == errno.ENOSPC:
                raise DiskFull(f"no space left on the device extracting {url}") from None
            raise
    finally:
        for leftover in scratch.iterdir():
            leftover.unlink()
        scratch.rmdir()
