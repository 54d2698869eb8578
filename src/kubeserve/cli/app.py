"""The `kubeserve` command line: argument parsing and help text only; `main.Actions` does the work."""

from __future__ import annotations

from typing import Annotated, Protocol

import typer


class Actions(Protocol):
    def up(self, home: str | None, port: int | None, detach: bool, timeout: float) -> int: ...

    def down(self, home: str | None, timeout: float) -> int: ...

    def status(self, home: str | None) -> int: ...

    def kubeconfig(self, home: str | None, merge: bool) -> int: ...


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

    return app
