"""The `kubeserve` command line: argument parsing and help text only; `main.Actions` does the work."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Protocol

import typer


class Actions(Protocol):
    def up(self, home: str | None, port: int | None, detach: bool, timeout: float) -> int: ...

    def down(self, home: str | None, timeout: float) -> int: ...

    def status(self, home: str | None) -> int: ...

    def ca(self, home: str | None) -> int: ...

    def kubeconfig(self, home: str | None, merge: bool) -> int: ...

    def storage_pull(self, uri: str | None, dest: Path, options: StorageOptions) -> int: ...

    def modelcar_build(self, model_dir: Path, image: str, push: bool, output: Path | None, compression: str,
                       options: StorageOptions) -> int: ...

    def pvc_cp(self, source: Path, target: str, options: StorageOptions, helper_pod: bool) -> int: ...

    def demo_model(self, dest: Path, seed: int) -> int: ...


@dataclass(frozen=True)
class StorageOptions:
    namespace: str | None = None
    kubeconfig: str | None = None
    storage_key: str | None = None
    storage_path: str | None = None
    pull_secrets: tuple[str, ...] = ()
    no_cache: bool = False
    progress: str = "auto"


NamespaceOption = Annotated[str | None, typer.Option("--namespace", "-n",
                                                     help="Namespace of Secrets and claims (default: the context's).")]
KubeconfigOption = Annotated[str | None, typer.Option(help="Kubeconfig (default: $KUBECONFIG or ~/.kube/config).")]
PullSecretOption = Annotated[list[str] | None, typer.Option(
    "--pull-secret", help="A kubernetes.io/dockerconfigjson Secret with registry credentials (repeatable).")]
ProgressOption = Annotated[str, typer.Option(help="auto (a bar on a terminal, log lines otherwise), bar, log, none.")]

HomeOption = Annotated[
    str | None,
    typer.Option("--home", envvar="KUBESERVE_HOME", help="Data directory (default ~/.kubeserve)."),
]


def build_cli(actions: Actions) -> typer.Typer:
    app = typer.Typer(
        name="kubeserve",
        help="Serve LLMs from the OpenShift AI / KServe guide's YAML on one machine, with the real kubectl.",
        no_args_is_help=True,
        add_completion=False,
    )

    @app.command()
    def up(
        home: HomeOption = None,
        port: Annotated[int | None, typer.Option(envvar="KUBESERVE_API_PORT",
                                                 help="API server port (default 6443).")] = None,
        detach: Annotated[bool, typer.Option("--detach", "-d",
                                             help="Start in the background; return once the API answers.")] = False,
        timeout: Annotated[float, typer.Option(help="Seconds --detach waits for the API.")] = 60.0,
    ) -> None:
        """Start kubeserve (the API server) in the foreground, or in the background with --detach."""
        raise typer.Exit(actions.up(home, port, detach, timeout))

    @app.command()
    def down(
        home: HomeOption = None,
        timeout: Annotated[float, typer.Option(help="Seconds to wait before killing.")] = 15.0,
    ) -> None:
        """Stop a kubeserve started with `up --detach`."""
        raise typer.Exit(actions.down(home, timeout))

    @app.command()
    def status(home: HomeOption = None) -> None:
        """Say whether kubeserve is running, where, and where its kubeconfig is."""
        raise typer.Exit(actions.status(home))

    @app.command()
    def kubeconfig(
        home: HomeOption = None,
        merge: Annotated[bool, typer.Option("--merge",
                                            help="Also add a `kubeserve` context to ~/.kube/config "
                                                 "(or the first file in $KUBECONFIG) and switch to it.")] = False,
    ) -> None:
        """Print the path of the generated kubeconfig (use: export KUBECONFIG=$(kubeserve kubeconfig))."""
        raise typer.Exit(actions.kubeconfig(home, merge))

    @app.command()
    def ca(home: HomeOption = None) -> None:
        """Print the path of kubeserve's CA certificate (use: curl --cacert "$(kubeserve ca)" https://ROUTE)."""
        raise typer.Exit(actions.ca(home))

    storage = typer.Typer(help="Place models: the storage initializer of InferenceServices, standalone.",
                          no_args_is_help=True)
    app.add_typer(storage, name="storage")

    @storage.command("pull")
    def storage_pull(
        uri: Annotated[str, typer.Argument(help="oci://, s3://, pvc://, hf://, http(s)://, file:// or a local path; "
                                                "'-' with --storage-key.")],
        dest: Annotated[Path, typer.Argument(help="Destination directory (created; must be empty).")],
        namespace: NamespaceOption = None,
        kubeconfig: KubeconfigOption = None,
        storage_key: Annotated[str | None, typer.Option(help="Data-connection Secret (storage.key).")] = None,
        storage_path: Annotated[str | None, typer.Option(help="Path in its bucket (storage.path).")] = None,
        pull_secret: PullSecretOption = None,
        no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the model cache.")] = False,
        progress: ProgressOption = "auto",
    ) -> None:
        """Download (or take from the cache) a model and place it at DEST, as the init container does."""
        options = StorageOptions(namespace, kubeconfig, storage_key, storage_path, tuple(pull_secret or ()),
                                 no_cache, progress)
        raise typer.Exit(actions.storage_pull(None if uri == "-" else uri, dest, options))

    modelcar = typer.Typer(help="Package models as OCI modelcar images (no podman needed).", no_args_is_help=True)
    app.add_typer(modelcar, name="modelcar")

    @modelcar.command("build")
    def modelcar_build(
        model_dir: Annotated[Path, typer.Argument(help="The model directory (config.json, weights, tokenizer…).")],
        image: Annotated[str, typer.Argument(help="Image reference, e.g. 127.0.0.1:5000/models/granite:1.0")],
        push: Annotated[bool, typer.Option("--push", help="Push the image to its registry.")] = False,
        output: Annotated[Path | None, typer.Option(help="Also write an OCI image layout directory here "
                                                         "(default without --push: ./<name>.oci).")] = None,
        compression: Annotated[str, typer.Option(help="Layer compression: gzip, zstd or none.")] = "gzip",
        pull_secret: PullSecretOption = None,
        namespace: NamespaceOption = None,
        kubeconfig: KubeconfigOption = None,
        progress: ProgressOption = "auto",
    ) -> None:
        """Build a modelcar image: the model under /models, as KServe's oci:// storage expects."""
        options = StorageOptions(namespace, kubeconfig, pull_secrets=tuple(pull_secret or ()), progress=progress)
        raise typer.Exit(actions.modelcar_build(model_dir, image, push, output, compression, options))

    pvc = typer.Typer(help="Put model files onto PersistentVolumeClaims.", no_args_is_help=True)
    app.add_typer(pvc, name="pvc")

    @pvc.command("cp")
    def pvc_cp(
        source: Annotated[Path, typer.Argument(help="Local file or directory.")],
        target: Annotated[str, typer.Argument(help="CLAIM:PATH inside the claim, e.g. model-pvc:models/granite")],
        namespace: NamespaceOption = None,
        kubeconfig: KubeconfigOption = None,
        helper_pod: Annotated[bool, typer.Option("--helper-pod", help="Copy through a helper pod and `kubectl cp` "
                                                 "even when the claim's directory is on this machine.")] = False,
        progress: ProgressOption = "auto",
    ) -> None:
        """Copy model files onto a claim, for InferenceServices with storageUri pvc://CLAIM/PATH."""
        options = StorageOptions(namespace, kubeconfig, progress=progress)
        raise typer.Exit(actions.pvc_cp(source, target, options, helper_pod))

    @app.command("demo-model")
    def demo_model(
        dest: Annotated[Path, typer.Argument(help="Directory to write the model to.")],
        seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same weights.")] = 0,
    ) -> None:
        """Build a small Llama-architecture model with a locally trained tokenizer (no downloads), for tests
        and the demo: servable by vLLM and the Hugging Face runtime."""
        raise typer.Exit(actions.demo_model(dest, seed))

    return app
