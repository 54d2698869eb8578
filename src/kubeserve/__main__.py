"""`python -m kubeserve`: the same as the `kubeserve` command."""

from kubeserve.main import cli_entry

cli_entry()
