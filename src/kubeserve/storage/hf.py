"""hf://<org>/<model>[:<revision>]: a Hugging Face Hub repository, as KServe accepts it.

huggingface_hub resolves the revision (a branch, tag or commit) to its commit sha and lists the files with
their sizes; the sha is the cache key (`hf-<sha>`), so a moving branch is fetched again only when it moved.
The files themselves are plain HTTP GETs of the Hub's `resolve/<sha>/<file>` URLs, streamed straight into
the staging directory in parallel, so progress counts real bytes and huggingface_hub never writes its own
cache (~/.cache/huggingface) or `.cache` metadata into the model tree.

HF_ENDPOINT (a mirror or a private Hub) and HF_TOKEN (gated and private repositories) come from the
context's environment, never from this process's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import HfApi, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from kubeserve.storage.errors import AccessDenied, InvalidStorageUri, ModelNotFound, TransferError
from kubeserve.storage.http import session_for, stream_to_file
from kubeserve.storage.pvc import EscapingPath, inside_path
from kubeserve.storage.types import Context, Plan, Progress

PREFIX = "hf://"
DEFAULT_ENDPOINT = "https://huggingface.co"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class HfRef:
    repo_id: str
    revision: str


@dataclass(frozen=True)
class HfFile:
    name: str
    size: int | None


def parse_hf_uri(uri: str) -> HfRef:
    """KServe's rule: exactly `<org>/<model>`, the model optionally followed by `:<revision>`."""
    if not uri.startswith(PREFIX):
        raise InvalidStorageUri(f"{uri}: not an hf:// URI (expected hf://<org>/<model>[:<revision>])")
    parts = uri[len(PREFIX):].split("/")
    if len(parts) != 2:
        raise InvalidStorageUri(f"{uri}: expected exactly one '/' between the organisation and the model, as in "
                                "hf://meta-llama/Llama-3.1-8B-Instruct or hf://org/model:main")
    org, model_part = parts
    model, _, revision = model_part.partition(":")
    for what, value in (("organisation", org), ("model", model)):
        if not value:
            raise InvalidStorageUri(f"{uri}: the {what} name is empty")
        if not _NAME.match(value) or ".." in value:
            raise InvalidStorageUri(f"{uri}: {value!r} is not a valid Hugging Face {what} name")
    if ":" in model_part and not revision:
        raise InvalidStorageUri(f"{uri}: empty revision after ':' (leave it out for main)")
    return HfRef(repo_id=f"{org}/{model}", revision=revision or "main")


def hf_token(env: Mapping[str, str]) -> str | None:
    return env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or None


def repo_files(siblings: list[tuple[str, int | None]], uri: str) -> list[HfFile]:
    """The repository's files as safe relative paths (a Hub listing is data too: never trust it with `..`)."""
    files = []
    for name, size in siblings:
        try:
            relative = inside_path(name)
        except EscapingPath as err:
            raise InvalidStorageUri(f"{uri}: the Hub lists a file {name!r} that {err}; refusing it") from None
        if relative:
            files.append(HfFile(relative, size))
    return files


class HfProvider:
    schemes = ("hf",)

    def plan(self, uri: str, context: Context) -> Plan:
        ref = parse_hf_uri(uri)
        endpoint = (context.env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        token = hf_token(context.env)
        sha, files = _resolve(ref, endpoint, token, uri)
        denied = (f"{ref.repo_id} is gated or private: accept its terms on the Hub with your account and set HF_TOKEN "
                  "to a token of that account that can read it")
        sizes = [f.size for f in files]
        total = None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)
        headers = {"Authorization": f"Bearer {token}"} if token else {}

        def download(stage: Path, progress: Progress) -> None:
            progress.set_total(total)
            session = session_for(context.env)

            def fetch(file: HfFile) -> None:
                dest = stage / file.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                url = hf_hub_url(ref.repo_id, file.name, revision=sha, endpoint=endpoint)
                stream_to_file(session, url, dest, progress, headers=headers, length=file.size, denied_hint=denied)

            with ThreadPoolExecutor(max(1, context.settings.concurrency), thread_name_prefix="hf-file") as pool:
                for _ in pool.map(fetch, files):
                    pass

        return Plan(source=f"{ref.repo_id}@{sha}", key=f"hf-{sha}", total_bytes=total, download=download)


def _resolve(ref: HfRef, endpoint: str, token: str | None, uri: str) -> tuple[str, list[HfFile]]:
    # token=False: without HF_TOKEN in the context, never fall back to a token saved on this machine
    api = HfApi(endpoint=endpoint, token=token or False)
    try:
        info = api.model_info(ref.repo_id, revision=ref.revision, files_metadata=True, token=token or False)
    except GatedRepoError:
        raise AccessDenied(f"{uri}: {ref.repo_id} is a gated repository: accept its terms on the Hub with your "
                           "account and set HF_TOKEN to a token of that account"
                           + (" (the HF_TOKEN given has no access)" if token else "")) from None
    except RevisionNotFoundError:
        raise ModelNotFound(f"{uri}: {ref.repo_id} has no revision {ref.revision!r}; use a branch, tag or commit "
                            "that exists") from None
    except RepositoryNotFoundError:
        hint = " (if it is private, set HF_TOKEN to a token that can read it)" if not token else \
            " (or HF_TOKEN cannot read it)"
        raise ModelNotFound(f"{uri}: repository {ref.repo_id} not found on {endpoint}{hint}") from None
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        if status in (401, 403):
            raise AccessDenied(f"{uri}: HTTP {status} from {endpoint}: set HF_TOKEN to a token that can read "
                               f"{ref.repo_id}") from None
        raise TransferError(f"{uri}: the Hub at {endpoint} answered {err}") from None
    except (OSError, ValueError) as err:
        raise TransferError(f"{uri}: cannot reach the Hub at {endpoint} ({err})") from None
    except Exception as err:  # huggingface_hub's HTTP library raises its own connection errors
        raise TransferError(f"{uri}: cannot reach the Hub at {endpoint} ({type(err).__name__}: {err})") from None
    if info.gated and not token:  # the Hub describes a gated repository to anyone, but serves its files to few
        raise AccessDenied(f"{uri}: {ref.repo_id} is a gated repository: accept its terms on the Hub with your "
                           "account and set HF_TOKEN to a token of that account")
    if not info.sha:
        raise TransferError(f"{uri}: the Hub at {endpoint} did not say which commit {ref.revision!r} is")
    siblings = [(s.rfilename, s.size) for s in info.siblings or []]
    files = repo_files(siblings, uri)
    if not files:
        raise ModelNotFound(f"{uri}: repository {ref.repo_id} at {ref.revision} has no files")
    return info.sha, files
