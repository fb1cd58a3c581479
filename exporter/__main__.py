"""`python -m exporter` runs the command line, like the `wolkvox-exporter` script."""

from exporter.cli import run

run()
