"""Image pulls for the pod worker: one pull per image and pod at a time, Events, and back-off.

Like the kubelet's image manager: `Pulling`, then `Pulled` (or `Failed`), a pull that fails reads
`ErrImagePull` for a moment and then `ImagePullBackOff` until its retry, with the crash-loop numbers
(10 s doubling to 5 min, never an immediate retry). `imagePullPolicy: Never` with the image absent is
`ErrImageNeverPull`. The pull itself is the image catalog's; this module only decides when to ask it.
"""

from __future__ import annotations

import asyncio

from kubeserve.client import EventRecorder, Obj
from kubeserve.node.kubelet import restarts
from kubeserve.node.kubelet.images import ImagePullError, PulledImage
from kubeserve.node.kubelet.podstate import ImageCatalog, PodState, PullState, Spawn


def err_image_pull_until(pull: PullState) -> float:
    """A failed pull reads ErrImagePull for a moment, then ImagePullBackOff until the retry, as on a real
    kubelet (whose next sync comes a few seconds later)."""
    delay = pull.backoff.delay if pull.backoff is not None else 0.0
    return pull.failed_at + min(2.0, delay / 2)


def waiting_reason(pull: PullState | None, image: str, now: float) -> tuple[str, str] | None:
    """The container's waiting (reason, message) while its image failed to pull, else None."""
    if pull is None or pull.error is None:
        return None
    reason, message = pull.error
    if reason == "ErrImagePull" and now >= err_image_pull_until(pull):
        reason, message = "ImagePullBackOff", f'Back-off pulling image "{image}"'
    return reason, message


class ImagePuller:
    def __init__(self, images: ImageCatalog, recorder: EventRecorder, backoff: restarts.BackOffPolicy,
                 progress_interval: float, spawn: Spawn) -> None:
        self.images = images
        self.recorder = recorder
        self.backoff = backoff
        self.progress_interval = progress_interval  # at most one progress Event per image this often
        self.spawn = spawn

    async def image(self, ps: PodState, spec: Obj, now: float, wake: list[float]) -> PulledImage | None:
        """The container's image when pulled; else start (or wait for, or back off) its pull."""
        image = str(spec.get("image") or "")
        if image in ps.images:
            return ps.images[image]
        pull = ps.pulls.setdefault(image, PullState())
        if pull.task is not None:
            if not pull.task.done():
                return None
            pull.task = None
            if image in ps.images:
                return ps.images[image]
        if pull.backoff is not None and now < pull.backoff.retry_at:
            shown_until = err_image_pull_until(pull)
            wake.append(shown_until if now < shown_until < pull.backoff.retry_at else pull.backoff.retry_at)
            return None
        present = self.images.is_present(image)
        if not present and spec.get("imagePullPolicy") == "Never":
            message = f'Container image "{image}" is not present with pull policy of Never'
            pull.error = ("ErrImageNeverPull", message)
            await self.recorder.record(ps.ref, "Warning", "ErrImageNeverPull", message)
            pull.backoff = restarts.pull_backoff(pull.backoff, now, self.backoff)
            pull.failed_at = now
            wake.append(pull.backoff.retry_at)
            return None
        if not present:
            await self.recorder.record(ps.ref, "Normal", "Pulling", f'Pulling image "{image}"')
        pull.task = self.spawn(self._pull(ps, image, present, pull), ps.key)
        return None

    async def _pull(self, ps: PodState, image: str, present: bool, pull: PullState) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        last_report = began

        async def progress(line: str) -> None:
            nonlocal last_report
            if not present and loop.time() - last_report >= self.progress_interval:
                last_report = loop.time()
                await self.recorder.record(ps.ref, "Normal", "Pulling", f'Pulling image "{image}": {line}')

        try:
            pulled = await self.images.pull(image, progress)
        except Exception as exc:  # any failure (not only ImagePullError) must back off, never retry at once
            reason, message = (exc.reason, exc.message) if isinstance(exc, ImagePullError) else \
                ("ErrImagePull", str(exc) or type(exc).__name__)
            now = loop.time()
            pull.error = (reason, message)
            pull.failed_at = now
            pull.backoff = restarts.pull_backoff(pull.backoff, now, self.backoff)
            await self.recorder.record(ps.ref, "Warning", "Failed", f'Failed to pull image "{image}": {message}')
            return
        ps.images[image] = pulled
        pull.error, pull.backoff = None, None
        if present:
            await self.recorder.record(ps.ref, "Normal", "Pulled",
                                       f'Container image "{image}" already present on machine')
        else:
            took = restarts.go_duration(round(loop.time() - began, 3))
            await self.recorder.record(ps.ref, "Normal", "Pulled", f'Successfully pulled image "{image}" in {took}')
