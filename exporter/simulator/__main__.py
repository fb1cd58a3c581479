"""``python -m exporter.simulator``: the fake Wolkvox in the foreground."""

from exporter.simulator.cli import main

raise SystemExit(main())
