"""statbus pipeline: events, bus, samplers, stages, configuration and the CLI."""

from __future__ import annotations

__version__ = "0.1.0"
