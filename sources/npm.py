"""Packages from the npm registry, reached through the npm client by package name.

Some aid sources and the COG referential are published as npm packages. We never
write the registry's address: ``npm view`` and ``npm pack`` know it. A downloaded
tarball is kept in a cache named by package and version and checked against the
registry's Subresource Integrity string (``sha512-…``) every time it is used, so an
unchanged version is not downloaded again and a corrupted one is never read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


class NpmPackageError(RuntimeError):
    """A package could not be fetched, or is not what was expected."""


@dataclass(frozen=True)
class NpmPackage:
    """A package tarball on disk, verified against its integrity string."""

    name: str
    version: str
    integrity: str
    tarball: Path
    downloaded: bool  # False when it came from the cache


def integrity_of(path: Path) -> str:
    """The Subresource Integrity string (sha512, base64) of a file, as npm computes it."""
    digest = hashlib.sha512()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def _npm(args: list[str], cwd: Path, what: str) -> str:
    if shutil.which("npm") is None:
        raise NpmPackageError(f"{what} : le client npm est introuvable (installez Node.js et npm).")
    try:
        done = subprocess.run(["npm", *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired as exc:
        raise NpmPackageError(f"{what} : npm n'a pas répondu en {exc.timeout} s.") from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(pas de message)"])[-1]
        raise NpmPackageError(f"{what} : npm {args[0]} a échoué ({last}).")
    return done.stdout


def resolve(name: str, spec: str = "latest") -> tuple[str, str]:
    """The exact version and integrity string that ``name@spec`` designates today."""
    what = f"paquet npm {name}@{spec}"
    with tempfile.TemporaryDirectory() as tmp:
        out = _npm(["view", f"{name}@{spec}", "version", "dist.integrity", "--json"], Path(tmp), what)
    try:
        data = json.loads(out)
    except json.JSONDecodeError as exc:
        raise NpmPackageError(f"{what} : réponse de npm view illisible.") from exc
    if isinstance(data, list):  # a range matching several versions: take the newest
        data = data[-1]
    try:
        return data["version"], data["dist.integrity"]
    except (KeyError, TypeError) as exc:
        raise NpmPackageError(f"{what} : version ou intégrité absente de la réponse de npm view.") from exc


def _cache_path(cache_dir: Path, name: str, version: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name.lstrip("@"))
    return cache_dir / "npm" / f"{safe}-{version}.tgz"


def fetch(name: str, version: str, integrity: str, cache_dir: Path) -> NpmPackage:
    """The tarball of ``name@version``, from the cache when it is there and intact.

    Raises NpmPackageError naming the package and version when npm fails or when the
    tarball's integrity differs from ``integrity``; a corrupted cached copy is
    discarded and fetched again once.
    """
    what = f"paquet npm {name} {version}"
    target = _cache_path(cache_dir, name, version)
    if target.exists():
        if integrity_of(target) == integrity:
            return NpmPackage(name, version, integrity, target, downloaded=False)
        target.unlink()  # corrupted cache entry: fetch it again
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        out = _npm(["pack", f"{name}@{version}", "--pack-destination", tmp, "--json"], Path(tmp), what)
        try:
            filename = json.loads(out)[0]["filename"]
        except (json.JSONDecodeError, IndexError, KeyError, TypeError) as exc:
            raise NpmPackageError(f"{what} : réponse de npm pack illisible.") from exc
        packed = Path(tmp) / Path(filename).name
        got = integrity_of(packed)
        if got != integrity:
            raise NpmPackageError(
                f"{what} : intégrité inattendue (attendue {integrity}, obtenue {got}) ; le paquet est refusé."
            )
        packed.replace(target)
    return NpmPackage(name, version, integrity, target, downloaded=True)
