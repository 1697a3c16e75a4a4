"""The kernel module's files call each other in one direction only (issue 12, "Layout"): plumbing at
the top, then what a connection receives and sends, the socket table, memory accounting, and the
channels at the bottom; the pure files below them all call nothing of the kernel side. The channel
layer's upcalls into the socket layers are the few named below (the receive workers hand frames up,
a lost channel fails its connections, a sent frame releases its memory). A call that goes up
anywhere else fails here, naming the caller, the callee and both files."""

import re
from pathlib import Path

import pytest

MOD = Path(__file__).resolve().parents[2] / "module_src" / "netchannel"

# top first; a file may call the functions of its own layer and of the layers after it (the
# channels and their authentication call each other: one layer)
GROUPS = [
    ["nc_main.c"],
    ["nc_plumbing.c"],
    ["nc_incoming.c"],
    ["nc_outgoing.c"],
    ["nc_sock.c"],
    ["nc_mem.c"],
    ["nc_chan.c", "nc_auth.c"],
]
LAYERS = [f for g in GROUPS for f in g]
# built as one unit (DKMS builds on every host; one unit parses the kernel headers once)
UNITY = {"nc_sockets.c": ["nc_plumbing.c", "nc_incoming.c", "nc_outgoing.c", "nc_sock.c", "nc_mem.c"]}
PURE = ["nc_wire.c", "nc_credit.c", "nc_hostcfg.c", "nc_demux.c", "nc_reorder.c", "nc_stripe.c"]
UPCALLS = {
    ("nc_chan.c", "nc_rx_frame"),
    ("nc_chan.c", "nc_conns_chan_down"),
    ("nc_chan.c", "nc_conns_rxchan_down"),
    ("nc_chan.c", "nc_txframe_done"),
}
_HEAD = re.compile(r"^(?!static\b)[A-Za-z_][\w \*]*?\b(\w+)\(")
# any mention counts, not only a call: a function handed up as a callback (INIT_WORK(), .op = fn)
# is called from the lower layer all the same.  Callbacks a caller hands down (nc_socktab_find()'s
# predicate) are the caller's own functions and pass.
_CALL = re.compile(r"\b([A-Za-z_]\w*)\b")


def _code(name: str) -> str:
    text = (MOD / name).read_text()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


def _exported(files: list[str]) -> dict[str, str]:
    """Functions defined without static (kernel style: the head at column 0, "{" alone below it)."""
    owner: dict[str, str] = {}
    for f in files:
        lines = _code(f).split("\n")
        for i, line in enumerate(lines):
            m = _HEAD.match(line)
            if not m:
                continue
            j = i
            while j < len(lines) and not lines[j].rstrip().endswith((")", ";")):
                j += 1
            if j + 1 < len(lines) and lines[j].rstrip().endswith(")") and lines[j + 1] == "{":
                owner[m.group(1)] = f
    return owner


def test_every_kernel_source_has_a_layer():
    on_disk = {p.name for p in MOD.glob("*.c") if not p.name.endswith(".mod.c")}
    known = set(LAYERS) | set(PURE) | set(UNITY)
    assert on_disk == known, sorted(on_disk ^ known)


def test_the_unity_file_only_includes_the_socket_layers():
    for unit, parts in UNITY.items():
        code = [line for line in _code(unit).splitlines() if line.strip()]
        assert code == ['#include ""' for _ in parts], code  # strings are blanked by _code()
        text = (MOD / unit).read_text()
        assert [line.split('"')[1] for line in text.splitlines() if line.startswith("#include")] == parts
    kbuild = (MOD / "Kbuild").read_text()
    for unit, parts in UNITY.items():
        assert unit.replace(".c", ".o") in kbuild
        for part in parts:
            assert part.replace(".c", ".o") not in kbuild, f"{part} is compiled twice (alone and in {unit})"


def test_the_socket_layer_is_split():
    # each of these holds what its name says: a function that would move back is missed
    owner = _exported(LAYERS)
    expect = {
        "nc_sock_init": "nc_plumbing.c",
        "nc_rx_frame": "nc_incoming.c",
        "nc_send_credit": "nc_outgoing.c",
        "nc_tx_chan": "nc_outgoing.c",
        "nc_lookup": "nc_sock.c",
        "nc_socktab_find": "nc_sock.c",
        "nc_rx_reserve": "nc_mem.c",
        "nc_txframe_done": "nc_mem.c",
    }
    assert {k: owner.get(k) for k in expect} == expect


def test_calls_go_down_only():  # and references
    order = {f: i for i, g in enumerate(GROUPS) for f in g}
    owner = _exported(LAYERS)
    pure_owner = _exported(PURE)
    bad = []
    for f in LAYERS:
        for m in _CALL.finditer(_code(f)):
            callee = m.group(1)
            g = owner.get(callee)
            if g and g != f and order[g] < order[f] and (f, callee) not in UPCALLS:
                bad.append(f"{f} calls {callee}() of {g}, a layer above it")
    for f in PURE:
        for m in _CALL.finditer(_code(f)):
            g = owner.get(m.group(1))
            if g and m.group(1) not in pure_owner:
                bad.append(f"pure {f} calls {m.group(1)}() of {g}")
    assert not bad, "\n".join(sorted(set(bad)))


@pytest.mark.parametrize(
    ("victim", "snippet", "complaint"),
    [
        # a call up
        ("nc_mem.c", "\nvoid nc_mem_bad(struct nc_sock *s)\n{\n\tnc_conn_fail(s, 0, false);\n}\n",
         r"nc_mem\.c calls nc_conn_fail\(\) of nc_incoming\.c"),
        # a function of an upper layer handed to the lower one as a callback, never called by name
        ("nc_sock.c", "\nvoid nc_sock_bad(struct nc_sock *s)\n{\n\tINIT_WORK(&s->room_work, nc_tx_class_work);\n}\n",
         r"nc_sock\.c calls nc_tx_class_work\(\) of nc_outgoing\.c"),
    ],
)  # fmt: skip
def test_the_checker_sees_an_upward_call(tmp_path, monkeypatch, victim, snippet, complaint):
    # the same check on a copy with one upward call or reference added must fail
    for f in LAYERS + PURE:
        (tmp_path / f).write_text((MOD / f).read_text())
    out = tmp_path / "nc_outgoing.c"
    out.write_text(out.read_text() + "\nvoid nc_tx_class_work(struct work_struct *w)\n{\n}\n")
    target = tmp_path / victim
    target.write_text(target.read_text() + snippet)
    monkeypatch.setattr(__import__(__name__), "MOD", tmp_path)
    with pytest.raises(AssertionError, match=complaint):
        test_calls_go_down_only()
