# ruff: noqa: E501, E101 (a real grub.cfg has long lines and tab indents)
"""Logic of the collection's custom modules (plugins/modules), without Ansible running them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pathload import load_file

MODULES = Path(__file__).resolve().parents[2] / "plugins" / "modules"


def load(name: str):
    mod = load_file(name, MODULES / f"{name}.py")
    return mod


grub = load("netchannel_grub_default")
kconfig = load("netchannel_kconfig_check")
patch = load("netchannel_kernel_patch")
key = load("netchannel_kernel_key")

GRUB_CFG = r"""
### BEGIN /etc/grub.d/10_linux ###
function gfxmode {
	set gfxpayload="${1}"
}
menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-0f1e' {
	linux	/boot/vmlinuz-6.1.192-netchannel root=UUID=0f1e ro quiet
}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-0f1e' {
	menuentry 'Debian GNU/Linux, with Linux 6.1.192-netchannel' --class debian $menuentry_id_option 'gnulinux-6.1.192-netchannel-advanced-0f1e' {
		if [ x$feature_all_video_module = xy ]; then
		  insmod all_video
		fi
		linux	/boot/vmlinuz-6.1.192-netchannel root=UUID=0f1e ro quiet
	}
	menuentry 'Debian GNU/Linux, with Linux 6.1.192-netchannel (recovery mode)' --class debian $menuentry_id_option 'gnulinux-6.1.192-netchannel-recovery-0f1e' {
		linux	/boot/vmlinuz-6.1.192-netchannel root=UUID=0f1e ro single
	}
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-57-amd64' --class debian $menuentry_id_option 'gnulinux-6.1.0-57-amd64-advanced-0f1e' {
		linux	/boot/vmlinuz-6.1.0-57-amd64 root=UUID=0f1e ro quiet
	}
	submenu 'Older kernels' $menuentry_id_option 'older' {
		menuentry 'Bob'\''s test, with Linux 5.6.0-nc' $menuentry_id_option 'bob-5.6' {
			linux /boot/vmlinuz-5.6.0-nc
		}
	}
}
### END /etc/grub.d/10_linux ###
menuentry "Custom > entry with Linux 6.12.0-custom" {
	linux /boot/vmlinuz-6.12.0-custom
}
"""


def test_grub_entries_inside_a_submenu_get_the_submenu_id_path():
    found = grub.entries(GRUB_CFG)
    entry = grub.pick(found, "6.1.192-netchannel")
    assert entry["path"] == "gnulinux-advanced-0f1e>gnulinux-6.1.192-netchannel-advanced-0f1e"


def test_grub_pick_skips_recovery_and_matches_the_exact_release():
    found = grub.entries(GRUB_CFG)
    assert grub.pick(found, "6.1.0-57-amd64")["id"] == "gnulinux-6.1.0-57-amd64-advanced-0f1e"
    # "6.1.192" alone is not a release that any entry boots.
    assert grub.pick(found, "6.1.192") is None


def test_grub_nested_submenus_and_escaped_quotes_in_titles():
    found = grub.entries(GRUB_CFG)
    entry = grub.pick(found, "5.6.0-nc")
    assert entry["title"] == "Bob's test, with Linux 5.6.0-nc"
    assert entry["path"] == "gnulinux-advanced-0f1e>older>bob-5.6"


def test_grub_entry_without_id_is_named_by_its_double_quoted_title_after_submenus_close():
    found = grub.entries(GRUB_CFG)
    entry = grub.pick(found, "6.12.0-custom")
    assert entry["path"] == "Custom > entry with Linux 6.12.0-custom"


def test_grub_env_parsing():
    assert grub.parse_env("saved_entry=a>b\nnext_entry=\nnoise\n") == {"saved_entry": "a>b", "next_entry": ""}


def test_kconfig_lost_options_are_named(tmp_path):
    config = tmp_path / ".config"
    config.write_text("CONFIG_NET=y\nCONFIG_NR_CPUS=4\n# CONFIG_DRM is not set\nCONFIG_SOUND=m\n")
    frag = tmp_path / "f.config"
    frag.write_text(
        "CONFIG_NET=y\nCONFIG_NR_CPUS=8\nCONFIG_NET_NS=y\n# CONFIG_DRM is not set\n# CONFIG_SOUND is not set\n"
    )
    lost = kconfig.lost(kconfig.parse(str(config)), kconfig.parse(str(frag)))
    assert ("CONFIG_NR_CPUS", "=8", "CONFIG_NR_CPUS=4") in lost
    assert ("CONFIG_NET_NS", "=y", "absent or not set") in lost
    assert ("CONFIG_SOUND", "is not set", "CONFIG_SOUND=m") in lost
    assert len(lost) == 3


def test_kconfig_nothing_lost_when_all_survive(tmp_path):
    config = tmp_path / ".config"
    config.write_text("CONFIG_NET=y\n# CONFIG_DRM is not set\n")
    frag = tmp_path / "f.config"
    frag.write_text("CONFIG_NET=y\n# CONFIG_DRM is not set\n# CONFIG_SOUND is not set\n")
    assert kconfig.lost(kconfig.parse(str(config)), kconfig.parse(str(frag))) == []


def test_kconfig_a_later_fragment_has_the_last_word(tmp_path):
    """lab.config sets BASE_FULL, which Linux 6.12 no longer has; linux-6.12.config unsets it after."""
    config = tmp_path / ".config"
    config.write_text("CONFIG_NET=y\n# CONFIG_BASE_SMALL is not set\n")
    lab = tmp_path / "01-lab.config"
    lab.write_text("CONFIG_NET=y\nCONFIG_BASE_FULL=y\n")
    newer = tmp_path / "02-linux-6.12.config"
    newer.write_text("# CONFIG_BASE_FULL is not set\n# CONFIG_BASE_SMALL is not set\n")
    wanted, source = kconfig.merged([str(lab), str(newer)])
    assert wanted == {"CONFIG_NET": "y", "CONFIG_BASE_FULL": None, "CONFIG_BASE_SMALL": None}
    assert source["CONFIG_BASE_FULL"] == "02-linux-6.12.config"
    assert source["CONFIG_NET"] == "01-lab.config"
    assert kconfig.lost(kconfig.parse(str(config)), wanted) == []
    # the other order: lab.config has the last word, and BASE_FULL is lost
    wanted, source = kconfig.merged([str(newer), str(lab)])
    assert kconfig.lost(kconfig.parse(str(config)), wanted) == [("CONFIG_BASE_FULL", "=y", "absent or not set")]
    assert source["CONFIG_BASE_FULL"] == "01-lab.config"


def _tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "include").mkdir(parents=True)
    (src / "include" / "in.h").write_text("".join(f"line {i}\n" for i in range(1, 21)))
    return src


def _diff(tmp_path: Path, src: Path, new_text: str, name: str) -> Path:
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "include").mkdir(parents=True, exist_ok=True)
    (a / "include" / "in.h").write_text((src / "include" / "in.h").read_text())
    (b / "include" / "in.h").write_text(new_text)
    out = subprocess.run(
        ["diff", "-u", "a/include/in.h", "b/include/in.h"], cwd=tmp_path, capture_output=True, text=True, check=False
    ).stdout
    p = tmp_path / name
    p.write_text(out)
    return p


def test_patch_failure_names_file_and_hunk(tmp_path):
    src = _tree(tmp_path)
    p = _diff(tmp_path, src, (src / "include" / "in.h").read_text().replace("line 10\n", "line ten\n"), "x.patch")
    (src / "include" / "in.h").write_text((src / "include" / "in.h").read_text().replace("line 10\n", "other\n"))
    proc = patch.run_patch(str(src), str(p), "--dry-run")
    assert proc.returncode != 0
    assert patch.failures(proc.stdout + proc.stderr) == ["file include/in.h: hunk #1 FAILED at line 7"]


def test_patch_series_comments_and_blank_lines(tmp_path):
    series = tmp_path / "series"
    series.write_text("# our series\n0001-a.patch\n\n0002-b.patch  # trailing comment\n")
    assert patch.read_series(str(series)) == ["0001-a.patch", "0002-b.patch"]


def test_patch_missing_file_is_reported():
    out = "can't find file to patch at input line 3\nPerhaps you used the wrong -p or --strip option?"
    assert patch.failures(out)[0].startswith("a file the patch names does not exist")


def test_cache_key_is_stable_and_content_sensitive(tmp_path):
    f1, f2 = tmp_path / "a.patch", tmp_path / "b.config"
    f1.write_text("patch\n")
    f2.write_text("CONFIG_X=y\n")
    k1 = key.compute_key(["base=tinyconfig"], [str(f1), str(f2)], None)
    assert k1 == key.compute_key(["base=tinyconfig"], [str(f1), str(f2)], None)
    assert len(k1) == 16
    # Names do not matter, contents and order do.
    renamed = tmp_path / "zz.config"
    renamed.write_text("CONFIG_X=y\n")
    assert key.compute_key(["base=tinyconfig"], [str(f1), str(renamed)], None) == k1
    f2.write_text("CONFIG_X=m\n")
    assert key.compute_key(["base=tinyconfig"], [str(f1), str(f2)], None) != k1
    assert key.compute_key(["base=defconfig"], [str(f1), str(renamed)], None) != k1
    assert key.compute_key(["base=tinyconfig"], [str(renamed), str(f1)], None) != k1


def test_cache_key_pinned_value(tmp_path):
    """The key of fixed inputs must not drift between releases (cached builds would be orphaned)."""
    f = tmp_path / "p"
    f.write_text("x\n")
    assert key.compute_key(["a", "b"], [str(f)], None) == PINNED


PINNED = "8196c4dab2d203a5"


def test_cache_key_missing_input_is_named(tmp_path):
    with pytest.raises(key.KeyError_, match=r"kernel build input .*/nope does not exist"):
        key.compute_key([], [str(tmp_path / "nope")], None)


facts = load("netchannel_host_facts")


def test_os_release_parsing():
    text = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n# c\n'
    osr = facts.parse_os_release(text)
    assert (osr["ID"], osr["VERSION_ID"]) == ("debian", "12")


def test_secure_boot_state_from_the_efi_variable():
    assert facts.secure_boot_state(True, bytes([6, 0, 0, 0, 1])) == "enabled"
    assert facts.secure_boot_state(True, bytes([6, 0, 0, 0, 0])) == "disabled"
    assert facts.secure_boot_state(True, None) == "unsupported"
    assert facts.secure_boot_state(False, bytes([6, 0, 0, 0, 1])) == "unsupported"


def test_free_space_of_a_path_not_created_yet(tmp_path):
    assert facts.nearest_existing(str(tmp_path / "a" / "b")) == str(tmp_path)
    assert facts.free_mb(str(tmp_path / "a" / "b")) > 0
