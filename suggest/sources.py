"""Where the packs come from, and a fingerprint of their bytes.

Kept apart from the YAML loader so that a warm start (packs unchanged, compiled
program in the cache) never imports or runs the YAML parser.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

SLOTS_FILE = "_slots.yaml"
CLASSES_FILE = "_classes.yaml"


def bundled_dir(name: str) -> Path:
    """A bundled pack folder: inside the wheel, or at the root of a checkout."""
    here = Path(__file__).resolve().parent
    installed = here / "_data" / name
    return installed if installed.is_dir() else here.parent / name


def bundled_shop() -> Path:
    return bundled_dir("replies") / "shop.yaml"


@dataclass(frozen=True)
class PackSources:
    intents: Path
    tags: Path
    replies: Path
    shop: Path

    @classmethod
    def of(cls, intents: str | Path | None = None, tags: str | Path | None = None,
           replies: str | Path | None = None, shop: str | Path | None = None) -> PackSources:
        replies_dir = Path(replies) if replies is not None else bundled_dir("replies")
        if shop is not None:
            shop_path = Path(shop)
        elif replies is not None and (replies_dir / "shop.yaml").is_file():
            shop_path = replies_dir / "shop.yaml"
        else:
            shop_path = bundled_shop()
        return cls(Path(intents) if intents is not None else bundled_dir("intents"),
                   Path(tags) if tags is not None else bundled_dir("tags"),
                   replies_dir, shop_path)

    def slots_file(self) -> Path:
        """intents/_slots.yaml of the intents folder, else the bundled one."""
        own = self.intents / SLOTS_FILE
        return own if own.is_file() else bundled_dir("intents") / SLOTS_FILE

    def classes_file(self) -> Path:
        """intents/_classes.yaml of the intents folder, else the bundled one (the bundled
        replies' situations use the shared classes too)."""
        own = self.intents / CLASSES_FILE
        return own if own.is_file() else bundled_dir("intents") / CLASSES_FILE

    def files(self) -> list[Path]:
        out: list[Path] = []
        for folder in (self.intents, self.tags, self.replies):
            out.extend(pack_files(folder, skip=self.shop))
        for shared in (self.slots_file(), self.classes_file()):
            if shared not in out:
                out.append(shared)
        if self.shop.is_file():
            out.append(self.shop)
        return out

    def fingerprint(self) -> str:
        """A hash of every pack byte: a changed pack gives a new cache key."""
        digest = hashlib.sha256()
        for path in self.files():
            digest.update(str(path).encode("utf-8", "surrogatepass") + b"\0")
            try:
                digest.update(path.read_bytes())
            except OSError:
                digest.update(b"<unreadable>")
            digest.update(b"\0")
        for folder in (self.intents, self.tags, self.replies, self.shop):
            digest.update(str(folder).encode("utf-8", "surrogatepass") + b"|")
        return digest.hexdigest()


def pack_files(folder: Path, skip: Path | None = None) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.suffix in (".yaml", ".yml") and p.is_file() and p != skip and p.name != "shop.yaml")
