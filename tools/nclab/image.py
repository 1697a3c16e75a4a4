"""The lab's guest image: Debian 12 built with mmdebstrap, booting through GRUB from its disk.

The image is cached under a key derived from its recipe (suite, kernel ABI, package
list, the files under guest/ and BUILDER_VERSION), and rebuilt only when that changes.
"""

from __future__ import annotations

import glob
import hashlib
import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from .config import REPO_ROOT, LabConfig
from .errors import LabError
from .qemu import base_args
from .util import require_tool, run, say, tail

BUILDER_VERSION = 1
GUEST_DIR = Path(__file__).resolve().parent / "guest"
DISK_SIZE_MB = 8192
PART_OFFSET = 1048576
DEBIAN_PATH = re.compile(r"/debian(-security)?/?$")


@dataclass(frozen=True)
class Recipe:
    suite: str
    kernel_abi: str
    packages: tuple[str, ...]
    files: tuple[tuple[str, str], ...]

    @property
    def key(self) -> str:
        blob = json.dumps(
            {
                "v": BUILDER_VERSION,
                "suite": self.suite,
                "abi": self.kernel_abi,
                "packages": self.packages,
                "files": self.files,
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def kernel_package(self) -> str:
        return f"linux-image-{self.kernel_abi}-amd64"


def base_packages(path: Path = GUEST_DIR / "packages.txt") -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def role_packages(roles_dir: Path = REPO_ROOT / "roles") -> list[str]:
    """Packages the roles install: every list variable named *_packages in roles/*/defaults/main.yml."""
    found: list[str] = []
    for defaults in sorted(roles_dir.glob("*/defaults/main.yml")):
        try:
            data = yaml.safe_load(defaults.read_text()) or {}
        except yaml.YAMLError as exc:
            raise LabError(f"{defaults} is not valid YAML: {exc}") from None
        for name, value in data.items():
            if name.endswith("_packages") and not name.startswith("__"):
                if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
                    raise LabError(f"{defaults}: {name} must be a list of package names, got {value!r}")
                found.extend(v for v in value if "{{" not in v)
    return found


def resolve_kernel_abi(requested: str) -> str:
    """'auto' means the newest linux-image-6.1.0-NN-amd64 the host's apt knows."""
    if requested != "auto":
        return requested
    out = subprocess.run(
        ["apt-cache", "pkgnames", "linux-image-6.1.0-"], capture_output=True, text=True, check=False
    ).stdout
    abis = sorted(
        (m.group(1) for m in re.finditer(r"^linux-image-(6\.1\.0-\d+)-amd64$", out, re.M)),
        key=lambda a: int(a.rsplit("-", 1)[1]),
    )
    if not abis:
        raise LabError(
            "no linux-image-6.1.0-*-amd64 package is known to apt on this host",
            hint="run apt-get update, or set NCLAB_KERNEL_ABI=6.1.0-NN",
        )
    return abis[-1]


def make_recipe(cfg: LabConfig) -> Recipe:
    files = tuple(
        (p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in sorted(GUEST_DIR.iterdir()) if p.is_file()
    )
    abi = resolve_kernel_abi(cfg.kernel_abi)
    kernel = [f"linux-image-{abi}-amd64", f"linux-headers-{abi}-amd64"]
    packages = tuple(sorted(set(base_packages() + role_packages() + kernel)))
    return Recipe(suite=cfg.suite, kernel_abi=abi, packages=packages, files=files)


def debian_sources(suite: str, paths: list[Path] | None = None) -> list[str]:
    """One-line apt sources for Debian `suite` and its -updates/-security suites, taken from the host's apt config.

    The image uses whatever Debian mirror the host is set up with; nothing is hard-coded.
    """
    if paths is None:
        paths = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    lines: list[str] = []
    for path in paths:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.name.endswith(".sources"):
            entries = _deb822_entries(text)
        elif path.name.endswith(".list") or path.name == "sources.list":
            entries = _oneline_entries(text)
        else:
            continue
        for uris, suites, comps in entries:
            for uri in uris:
                if not DEBIAN_PATH.search(uri):
                    continue
                for s in suites:
                    if s == suite or s.startswith(f"{suite}-"):
                        line = f"deb {uri} {s} {' '.join(comps)}"
                        if line not in lines:
                            lines.append(line)
    return lines


def _deb822_entries(text: str):
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for raw in stanza.splitlines():
            if raw.startswith("#") or ":" not in raw:
                continue
            k, _, v = raw.partition(":")
            fields[k.strip().lower()] = v.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        yield fields.get("uris", "").split(), fields.get("suites", "").split(), fields.get("components", "main").split()


def _oneline_entries(text: str):
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb":
            yield [words[1]], [words[2]], words[3:] or ["main"]


class Image:
    def __init__(self, cfg: LabConfig, recipe: Recipe):
        self.cfg = cfg
        self.recipe = recipe
        self.dir = cfg.cache_dir / "images" / recipe.key

    @property
    def disk(self) -> Path:
        return self.dir / "disk.img"

    @property
    def kernel(self) -> Path:
        return self.dir / "vmlinuz"

    def ready(self) -> bool:
        return (self.dir / "DONE").exists() and self.disk.exists() and self.kernel.exists()

    def ensure(self) -> None:
        if self.ready():
            say(f"image {self.recipe.key} from cache ({self.dir})")
            return
        self.build()

    def build(self) -> None:
        require_tool("mmdebstrap", "mmdebstrap")
        require_tool("sfdisk", "fdisk")
        require_tool("mkfs.ext4", "e2fsprogs")
        work = self.dir.with_name(self.recipe.key + ".building")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        log = work / "build.log"
        t0 = time.monotonic()
        say(f"building image {self.recipe.key} (kernel {self.recipe.kernel_abi}); log: {log}")
        sources = debian_sources(self.recipe.suite)
        if not sources:
            raise LabError(
                f"the host's apt sources list no Debian {self.recipe.suite} mirror",
                hint="the image is built from the same mirror the host uses (/etc/apt/sources.list*)",
            )
        (work / "sources.list").write_text("\n".join(sources) + "\n")
        root = work / "root"
        run(
            [
                "mmdebstrap",
                "--mode=root",
                "--variant=minbase",
                "--format=directory",
                "--include=" + ",".join(self.recipe.packages),
                "--dpkgopt=path-exclude=/usr/share/man/*",
                "--dpkgopt=path-exclude=/usr/share/doc/*",
                "--dpkgopt=path-include=/usr/share/doc/*/copyright",
                "--dpkgopt=path-exclude=/usr/share/locale/*",
                "--essential-hook=echo 'grub-pc grub-pc/install_devices_empty boolean true' "
                '| chroot "$1" debconf-set-selections',
                f'--customize-hook=sh {GUEST_DIR / "customize.sh"} "$1" {GUEST_DIR}',
                self.recipe.suite,
                str(root),
                str(work / "sources.list"),
            ],
            "mmdebstrap (guest root file system)",
            log=log,
        )
        say(f"root file system ready after {time.monotonic() - t0:.0f}s")
        vmlinuz = _one(root, f"boot/vmlinuz-{self.recipe.kernel_abi}-amd64")
        initrd = _one(root, f"boot/initrd.img-{self.recipe.kernel_abi}-amd64")
        shutil.copy(vmlinuz, work / "vmlinuz")
        shutil.copy(initrd, work / "initrd.img")
        disk = work / "disk.img"
        with disk.open("wb") as fh:
            fh.truncate(DISK_SIZE_MB * 1024 * 1024)
        run(
            ["sfdisk", "--quiet", str(disk)],
            "partitioning the image",
            log=log,
            input=b"label: dos\nstart=2048, type=83, bootable\n",
        )
        run(
            [
                "mkfs.ext4",
                "-q",
                "-F",
                "-L",
                "ncroot",
                "-E",
                f"offset={PART_OFFSET}",
                "-d",
                str(root),
                str(disk),
                f"{DISK_SIZE_MB - 1}M",
            ],
            "mkfs.ext4 -d (filling the image)",
            log=log,
        )
        shutil.rmtree(root)
        say(f"disk image filled after {time.monotonic() - t0:.0f}s; first boot installs GRUB")
        self._first_boot(work, log)
        (work / "recipe.json").write_text(json.dumps(self.recipe.__dict__, indent=1, default=list))
        (work / "DONE").write_text(f"built in {time.monotonic() - t0:.0f}s\n")
        shutil.rmtree(self.dir, ignore_errors=True)
        work.rename(self.dir)
        say(f"image {self.recipe.key} built in {time.monotonic() - t0:.0f}s")
        for old in prune(self.cfg.cache_dir, keep={self.recipe.key}):
            say(f"removed the unused image {old.name} (run `nclab prune` any time to do the same)")

    def _first_boot(self, work: Path, log: Path) -> None:
        console = work / "firstboot-console.log"
        cmd = [
            *base_args("tcg", 1024, 2),
            "-no-reboot",
            "-drive",
            f"file={work / 'disk.img'},format=raw,if=virtio,cache=unsafe",
            "-kernel",
            str(work / "vmlinuz"),
            "-initrd",
            str(work / "initrd.img"),
            "-append",
            "root=/dev/vda1 rw console=ttyS0,115200 nclab.firstboot=1 mitigations=off",
            "-serial",
            f"file:{console}",
        ]
        with log.open("a") as fh:
            fh.write("\n$ " + " ".join(cmd) + "\n")
        try:
            subprocess.run(
                cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=self.cfg.boot_timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise LabError(
                f"image first boot did not finish within {self.cfg.boot_timeout}s "
                f"(NCLAB_BOOT_TIMEOUT); console: {console}\n--- console tail ---\n{tail(console)}"
            ) from None
        text = console.read_text(errors="replace") if console.exists() else ""
        if "NCLAB-FIRSTBOOT-OK" not in text:
            raise LabError(
                f"image first boot did not install GRUB; console: {console}\n--- console tail ---\n{tail(console)}"
            )


def _one(root: Path, pattern: str) -> Path:
    hits = sorted(glob.glob(str(root / pattern)))
    if len(hits) != 1:
        raise LabError(f"expected one {pattern} in the image, found {hits or 'none'}")
    return Path(hits[0])


def images_in_use() -> set[str]:
    """Keys of the cached images that a running lab VM (of any lab on this machine) is backed by."""
    keys: set[str] = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if not args or b"qemu-system" not in args[0] or not any(b"process=nclab-" in a for a in args):
            continue
        for arg in args:
            m = re.search(rb"file=([^,]+\.qcow2)", arg)
            if not m:
                continue
            info = subprocess.run(
                ["qemu-img", "info", "-U", "--output", "json", m.group(1).decode()],
                capture_output=True,
                text=True,
                check=False,
            )
            try:
                backing = json.loads(info.stdout).get("backing-filename", "")
            except ValueError:
                continue
            if backing:
                keys.add(Path(backing).parent.name)
    return keys


def prune(cache_dir: Path, keep: set[str], in_use: set[str] | None = None) -> list[Path]:
    """Remove cached images (and unfinished builds) other than `keep` and those running VMs use.

    Returns what was removed. Images are about 1.2 GB each; a recipe change leaves the old one behind.
    """
    images = cache_dir / "images"
    if not images.is_dir():
        return []
    used = keep | (images_in_use() if in_use is None else in_use)
    removed = []
    for entry in sorted(images.iterdir()):
        key = entry.name.removesuffix(".building")
        if key in used:
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed
