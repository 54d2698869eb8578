"""Model storage: the storage initializer that places a model at /mnt/models from oci:// modelcars, S3 data
connections, pvc://, hf://, http(s):// and local paths, through a content-addressed cache (docs/storage.md).

Standalone: `python -m kubeserve.storage URI DEST` or `kubeserve storage pull`; in a pod, the kubelet's
image catalog maps KServe's storage-initializer images to the same command.
"""
