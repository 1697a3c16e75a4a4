"""roles/netchannel_module/files/netchannel: the `netchannel run PROGRAM` wrapper."""

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from pathload import load_file

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "roles" / "netchannel_module" / "files" / "netchannel.py"
SHOW_ENV = (
    "import json, os, sys; json.dump({k: os.environ.get(k) for k in "
    "('LD_PRELOAD', 'NC_PRELOAD_PORTS', 'NC_PRELOAD_ADDRS', 'NC_PRELOAD_STRICT', 'NC_PRELOAD_DEBUG')}, sys.stdout); "
    "sys.exit(int(sys.argv[1]))"
)


def run(tmp_path, *args, proc=True, shim=True, env=None):
    proc_file = tmp_path / "proc"
    shim_file = tmp_path / "nc_preload.so"
    if proc:
        proc_file.write_text("netchannel wire_version 1 local 198.18.0.1 port 9000 bulk 2 lat 1 peers 1\n")
    if shim:
        shim_file.write_text("")
    full_env = {
        "PATH": os.environ["PATH"],
        "NETCHANNEL_PROC": str(proc_file),
        "NETCHANNEL_SHIM": str(shim_file),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, str(WRAPPER), *args], capture_output=True, text=True, env=full_env, check=False
    )


def test_run_preloads_the_shim_and_passes_the_exit_status(tmp_path):
    proc = run(tmp_path, "run", sys.executable, "-c", SHOW_ENV, "3")
    assert proc.returncode == 3
    seen = json.loads(proc.stdout)
    assert seen == {
        "LD_PRELOAD": str(tmp_path / "nc_preload.so"),
        "NC_PRELOAD_PORTS": None,
        "NC_PRELOAD_ADDRS": None,
        "NC_PRELOAD_STRICT": None,
        "NC_PRELOAD_DEBUG": None,
    }


def test_run_keeps_an_existing_preload_and_passes_the_filters(tmp_path):
    proc = run(
        tmp_path,
        "run",
        "--ports",
        "5201,6379",
        "--addrs",
        "198.18.0.2",
        "--strict",
        "--debug",
        sys.executable,
        "-c",
        SHOW_ENV,
        "0",
        env={"LD_PRELOAD": "/lib/other.so"},
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["LD_PRELOAD"] == f"{tmp_path / 'nc_preload.so'} /lib/other.so"
    assert seen["NC_PRELOAD_PORTS"] == "5201,6379"
    assert seen["NC_PRELOAD_ADDRS"] == "198.18.0.2"
    assert seen["NC_PRELOAD_STRICT"] == "1"
    assert seen["NC_PRELOAD_DEBUG"] == "1"


def test_program_arguments_that_look_like_options_go_to_the_program(tmp_path):
    proc = run(tmp_path, "run", sys.executable, "-c", "import sys; print(sys.argv[1:])", "--ports", "-x")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['--ports', '-x']"


def test_module_not_loaded_is_a_clear_error(tmp_path):
    proc = run(tmp_path, "run", "true", proc=False)
    assert proc.returncode == 2
    assert "the netchannel kernel module is not loaded" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_shim_and_missing_program_are_clear_errors(tmp_path):
    proc = run(tmp_path, "run", "true", shim=False)
    assert proc.returncode == 2
    assert "nc_preload.so is missing" in proc.stderr
    proc = run(tmp_path, "run", "/nonexistent/prog")
    assert proc.returncode == 2
    assert "cannot run /nonexistent/prog: No such file or directory" in proc.stderr


def test_status_prints_the_proc_file(tmp_path):
    proc = run(tmp_path, "status")
    assert proc.returncode == 0
    assert proc.stdout.startswith("netchannel wire_version 1 local 198.18.0.1")


def _static_program(tmp_path):
    src = tmp_path / "prog.c"
    src.write_text("int main(void) { return 7; }\n")
    prog = tmp_path / "static-prog"
    subprocess.run(["gcc", "-static", "-o", str(prog), str(src)], check=True)
    return prog


def test_a_static_program_is_refused_and_named(tmp_path):
    prog = _static_program(tmp_path)
    proc = run(tmp_path, "run", str(prog))
    assert proc.returncode == 2
    assert f"netchannel: {prog} is statically linked" in proc.stderr
    assert "would not move to NetChannel" in proc.stderr
    assert "--unchecked" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unchecked_runs_it_anyway(tmp_path):
    proc = run(tmp_path, "run", "--unchecked", str(_static_program(tmp_path)))
    assert proc.returncode == 7, proc.stderr


def test_a_go_program_found_on_the_path_is_refused(tmp_path):
    # a dynamically linked program with the section every Go binary carries
    bindir = tmp_path / "bin"
    bindir.mkdir()
    note = tmp_path / "note"
    note.write_bytes(b"\0" * 16)
    prog = bindir / "goserver"
    subprocess.run(["objcopy", "--add-section", f".note.go.buildid={note}", "/usr/bin/true", str(prog)], check=True)
    proc = run(tmp_path, "run", "goserver", env={"PATH": f"{bindir}:{os.environ['PATH']}"})
    assert proc.returncode == 2
    assert f"{prog} is a Go program" in proc.stderr


def test_dynamic_programs_scripts_and_broken_files_are_not_refused(tmp_path):
    wrapper = load_file("netchannel_wrapper", WRAPPER)
    assert wrapper.elf_bypass("/usr/bin/true") is None
    assert wrapper.elf_bypass(sys.executable) is None
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    assert wrapper.elf_bypass(str(script)) is None
    cut = tmp_path / "cut"
    cut.write_bytes(Path("/usr/bin/true").read_bytes()[:200])
    assert wrapper.elf_bypass(str(cut)) is None
    assert wrapper.elf_bypass(str(tmp_path / "missing")) is None


@pytest.mark.parametrize(
    ("offset", "fmt", "value"),
    [
        (32, "<Q", 2**63 + 5),  # e_phoff past anything a file can hold
        (54, "<HH", (65535, 65535)),  # e_phentsize and e_phnum: about 4 GiB of headers
        (40, "<Q", 2**40),  # e_shoff past the end of the file
        (16, "<H", 1),  # e_type ET_REL: an object file, not a program
    ],
)
def test_corrupt_headers_give_no_verdict_and_no_traceback(tmp_path, offset, fmt, value):
    wrapper = load_file("netchannel_wrapper", WRAPPER)
    data = bytearray(Path("/usr/bin/true").read_bytes())
    struct.pack_into(fmt, data, offset, *(value if isinstance(value, tuple) else (value,)))
    bad = tmp_path / "bad"
    bad.write_bytes(bytes(data))
    assert wrapper.elf_bypass(str(bad)) is None
