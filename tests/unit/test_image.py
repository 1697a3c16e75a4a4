from pathlib import Path

import pytest
from nclab import image
from nclab.errors import LabError


def test_deb822_and_oneline_sources(tmp_path: Path):
    d822 = tmp_path / "debian.sources"
    d822.write_text(
        "Types: deb\nURIs: http://mirror.test/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.test/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb\nURIs: http://other.test/node\nSuites: nodistro\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.test/debian\nSuites: trixie\nComponents: main\n\n"
        "Types: deb-src\nURIs: http://mirror.test/debian\nSuites: bookworm\nComponents: main\n"
    )
    oneline = tmp_path / "sources.list"
    oneline.write_text("# comment\ndeb [arch=amd64] http://mirror.test/debian bookworm main contrib\n")
    disabled = tmp_path / "x.sources"
    disabled.write_text("Types: deb\nEnabled: no\nURIs: http://z.test/debian\nSuites: bookworm\n")
    lines = image.debian_sources("bookworm", [d822, oneline, disabled])
    assert lines == [
        "deb http://mirror.test/debian bookworm main",
        "deb http://mirror.test/debian bookworm-updates main",
        "deb http://mirror.test/debian-security bookworm-security main",
        "deb http://mirror.test/debian bookworm main contrib",
    ]


def test_recipe_key_changes_with_recipe():
    a = image.Recipe("bookworm", "6.1.0-56", ("a", "b"), (("f", "1"),))
    assert a.key == image.Recipe("bookworm", "6.1.0-56", ("a", "b"), (("f", "1"),)).key
    assert a.key != image.Recipe("bookworm", "6.1.0-57", ("a", "b"), (("f", "1"),)).key
    assert a.key != image.Recipe("bookworm", "6.1.0-56", ("a", "b", "c"), (("f", "1"),)).key
    assert a.key != image.Recipe("bookworm", "6.1.0-56", ("a", "b"), (("f", "2"),)).key
    assert a.kernel_package == "linux-image-6.1.0-56-amd64"


def test_role_packages(tmp_path: Path):
    role = tmp_path / "r1" / "defaults"
    role.mkdir(parents=True)
    (role / "main.yml").write_text("r1_packages: [ethtool, iperf3]\n__r1_packages: [hidden]\nr1_other: [x]\n")
    assert image.role_packages(tmp_path) == ["ethtool", "iperf3"]
    (role / "main.yml").write_text("r1_packages: ethtool\n")
    with pytest.raises(LabError, match=r"r1_packages must be a list"):
        image.role_packages(tmp_path)
    (role / "main.yml").write_text("r1_packages: [\n")
    with pytest.raises(LabError, match=r"is not valid YAML"):
        image.role_packages(tmp_path)


def test_repo_roles_declare_packages():
    pkgs = image.role_packages()
    assert "ethtool" in pkgs


def test_explicit_abi_is_kept():
    assert image.resolve_kernel_abi("6.1.0-42") == "6.1.0-42"


def test_prune_keeps_the_current_and_the_running_images(tmp_path):
    from nclab.image import prune

    images = tmp_path / "images"
    for name in ("current", "running", "old1", "old2.building"):
        (images / name).mkdir(parents=True)
        (images / name / "disk.img").write_text("x")
    removed = prune(tmp_path, keep={"current"}, in_use={"running"})
    assert sorted(p.name for p in removed) == ["old1", "old2.building"]
    assert sorted(p.name for p in images.iterdir()) == ["current", "running"]


def test_prune_of_an_empty_cache_removes_nothing(tmp_path):
    from nclab.image import prune

    assert prune(tmp_path, keep=set(), in_use=set()) == []
