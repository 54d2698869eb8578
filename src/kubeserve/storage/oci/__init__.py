"""oci:// modelcars: pull an image's /models tree (`OciProvider`) and package a model directory as one
(`build_modelcar`)."""

from kubeserve.storage.oci.build import BuiltModelcar, build_modelcar
from kubeserve.storage.oci.pull import OciProvider

__all__ = ["BuiltModelcar", "OciProvider", "build_modelcar"]
