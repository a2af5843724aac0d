"""Handlers by name: the built-ins, plus plugins from the `dock.handlers` entry-point group."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from worker.api import HandlerFunc, Sniffer

ENTRY_POINT_GROUP = "dock.handlers"
FALLBACK_HANDLER = "checksum"
SNIFF_BYTES = 8192

@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """A registered handler: its callable and what it accepts."""

    name: str
    func: HandlerFunc
    source: str  # "built-in" or "plugin module:callable"
    extensions: tuple[str, ...] = ()
    sniff: Sniffer | None = None
    timeout: float | None = None
    description: str = ""

    @classmethod
    def of(cls, name: str, func: HandlerFunc, source: str) -> HandlerSpec:
        return cls(
            name=name,
            func=func,
            source=source,
            extensions=getattr(func, "dock_extensions", ()),
            sniff=getattr(func, "dock_sniff", None),
            timeout=getattr(func, "dock_timeout", None),
            description=getattr(func, "dock_description", "") or (func.__doc__ or "").strip().split("\n")[0],
        )

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "extensions": list(self.extensions),
                "timeout": self.timeout, "description": self.description}


@dataclass
class Registry:
    """Every handler this installation knows, and the plugins that failed to load (with why)."""

    handlers: dict[str, HandlerSpec] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> HandlerSpec | None:
        return self.handlers.get(name)

    def choose(self, path: Path, head: bytes | None = None) -> str:
        """The handler for a file: the content decides first, then the suffix, else the fallback."""
        if head is None:
            with path.open("rb") as f:
                head = f.read(SNIFF_BYTES)
        suffix = path.suffix.lower()
        sniffed = [s for s in self.handlers.values() if s.sniff is not None and _safe_sniff(s.sniff, head)]
        for spec in sniffed:  # several kinds can match one content (zip): the suffix breaks the tie
            if suffix in spec.extensions:
                return spec.name
        if sniffed:
            return sniffed[0].name
        for spec in self.handlers.values():
            if suffix in spec.extensions and spec.sniff is None:
                return spec.name
        return FALLBACK_HANDLER if FALLBACK_HANDLER in self.handlers else next(iter(self.handlers), "")


def _safe_sniff(sniff: Sniffer, head: bytes) -> bool:
    try:
        return bool(sniff(head))
    except Exception:  # a plugin's broken sniffer must not stop an upload: it just does not match
        return False


def load_registry(include_plugins: bool = True) -> Registry:
    """The built-ins, then each plugin; a plugin that fails to import is recorded, never raised."""
    from worker.handlers import BUILTINS

    registry = Registry()
    for name, func in BUILTINS.items():
        registry.handlers[name] = HandlerSpec.of(name, func, "built-in")
    if include_plugins:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                func = ep.load()
                if not callable(func):
                    raise TypeError(f"{ep.value} is not callable")
            except Exception as error:  # report it and carry on: one broken plugin never stops the dock
                registry.errors[ep.name] = f"{ep.value}: {type(error).__name__}: {error}"
                continue
            registry.handlers[ep.name] = HandlerSpec.of(ep.name, func, f"plugin {ep.value}")
    return registry
