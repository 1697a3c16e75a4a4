"""netchannel_experiments: the tiny smoke run that converge.yml makes through site.yml (its
experiments stage with the vars of experiments.yml), read back from the controller's results
tree (records, raw outputs, CSV, PNG, report), the hosts (configuration recorded, nothing left running),
and the role driven again (the same run id resumes and runs nothing; bad input stops it first)."""

import csv
import importlib.util
import json
import os
import re
from pathlib import Path

import pytest
import testinfra
import yaml

REPO = Path(__file__).resolve().parents[3]
EXPERIMENTS = REPO / "molecule" / "workloads" / "experiments.yml"
WANTED = yaml.safe_load(EXPERIMENTS.read_text())[2]["vars"]
INVENTORY = Path(os.environ.get("NCLAB_INVENTORY") or REPO / "inventory" / "lab" / "hosts.yml")
RESULTS = Path(os.environ.get("NETCHANNEL_EXPERIMENTS_TEST_RESULTS") or "/tmp/netchannel-experiments-molecule")
RUN = RESULTS / WANTED["netchannel_experiments_run_id"]
FIGURES = WANTED["netchannel_experiments_figures"]
testinfra_hosts = ["netchannel"]

_spec = importlib.util.spec_from_file_location(
    "netchannel_results", REPO / "plugins" / "module_utils" / "netchannel_results.py"
)
results = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(results)

# What the run had to measure: the library's plan of the smoke profile for these figures.
PLANNED = results.expand("smoke", FIGURES)
NCBENCH = [i for i in PLANNED if i["tool"] == "ncbench"]
REDIS = [i for i in PLANNED if i["tool"] == "nckv"]
REDIS_PORT = 12879  # the role's default netchannel_experiments_ports.redis
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rep_dir(item) -> Path:
    return RUN / item["figure"] / item["variant"] / item["point"] / f"rep-{item['rep']}"


def _record(item) -> dict:
    return json.loads((_rep_dir(item) / "record.json").read_text())


def _env() -> dict:
    """The experiments playbook run again on the same results (it would otherwise start afresh)."""
    return {
        "ANSIBLE_COLLECTIONS_PATH": os.environ.get("ANSIBLE_COLLECTIONS_PATH") or str(REPO / "collections"),
        "NETCHANNEL_EXPERIMENTS_TEST_RESULTS": str(RESULTS),
        "NETCHANNEL_EXPERIMENTS_TEST_RESUME": "1",
    }


def test_planned_points_exist():
    assert PLANNED, "the smoke plan of the converge's figures is empty"
    assert {i["figure"] for i in PLANNED} == set(FIGURES)


def test_redis_figure_planned():
    assert REDIS, "figure 7 is not in the converge's figures"
    assert {i["variant"] for i in REDIS} == {"netchannel", "tcp"}


@pytest.mark.parametrize("item", NCBENCH, ids=lambda i: f"{i['figure']}-{i['variant']}-{i['point']}")
def test_rep_complete_with_raw_outputs(item):
    rep = _rep_dir(item)
    assert (rep / "COMPLETE").is_file(), f"{rep}: no marker"
    config = json.loads((rep / "config.json").read_text())
    client, server = config["client"], config["server"]
    assert client != server
    for host in (client, server):
        text = (rep / "raw" / host / "ncbench.txt").read_text()
        assert "# results" in text, f"{host}: ncbench.txt has no results section"
        doc = json.loads((rep / "raw" / host / "ncbench.json").read_text())
        assert doc["tool"] == "ncbench"
        assert doc["role"] == ("client" if host == client else "server")
    rec = _record(item)
    assert rec["primary"] == f"{client}/ncbench.txt"
    # the converge's 1 s points, not the profile's 3 s
    assert rec["params"]["bench"]["length"] == WANTED["netchannel_experiments_length"]
    assert rec["params"]["bench"]["warmup"] == WANTED["netchannel_experiments_warmup"]
    assert 0.5 <= rec["metrics"]["window_s"] <= 3
    assert (
        rec["params"]["bench"]["protocol"] == rec["outputs"][f"{client}/ncbench.txt"]["parsed"]["options"]["protocol"]
    )


@pytest.mark.parametrize("item", [i for i in PLANNED if i["figure"] == "6ab"], ids=lambda i: i["variant"])
def test_stream_numbers_plausible(item):
    m = _record(item)["metrics"]
    assert m["throughput_gbps"] > 0
    assert m["cores"] > 0
    assert m["throughput_per_core_gbps"] == pytest.approx(m["throughput_gbps"] / m["cores"])


@pytest.mark.parametrize(
    "item", [i for i in PLANNED if i["figure"] == "6d"], ids=lambda i: f"{i['variant']}-{i['point']}"
)
def test_latency_numbers_plausible(item):
    rec = _record(item)
    m = rec["metrics"]
    assert m["transactions_per_s"] > 0
    assert 0 < m["latency_p50_us"] <= m["latency_p90_us"] <= m["latency_p99_us"] <= m["latency_p999_us"]
    assert m["latency_p999_us"] <= m["latency_max_us"]
    assert m["latency_mean_us"] > 0
    priority = rec["outputs"][f"{rec['config']['client']}/ncbench.txt"]["parsed"]["options"]["priority"]
    assert priority == rec["params"]["bench"].get("priority", -1)
    background = f"{rec['config']['client']}/background.txt"
    if item["point"] == "scenario-interference":
        bg = rec["outputs"][background]["parsed"]["results"]
        assert bg["bytes_agree"] == "yes"
        assert bg["flow7_tx_bytes"] > 0, "the 8th background flow sent nothing"
    else:
        assert background not in rec["outputs"]


@pytest.mark.parametrize("item", REDIS, ids=lambda i: f"{i['variant']}-{i['point']}")
def test_redis_rep_complete_with_raw_outputs(item):
    rep = _rep_dir(item)
    assert (rep / "COMPLETE").is_file(), f"{rep}: no marker"
    rec = _record(item)
    client, server = rec["config"]["client"], rec["config"]["server"]
    assert client != server
    assert rec["primary"] == f"{client}/nckv.txt"
    out = results.parse_nckv((rep / "raw" / client / "nckv.txt").read_text(), "nckv.txt")
    log = (rep / "raw" / server / "redis-server.log").read_text()
    assert "Ready to accept connections" in log
    assert rec["config"]["client_rc"] == 0
    # the point's queue depth and the figure's mix, key space, connections and value size reached nckv
    # (as it echoes them) and redis-server (every GET found a value of that size: nckv checks each reply)
    bench = rec["params"]["bench"]
    opts = out["options"]
    assert opts["depth"] == item["x"] == bench["depth"]
    assert opts["conns"] == opts["threads"] == bench["threads"]
    assert opts["value_size"] == bench["value_size"]
    assert opts["get_ratio"] == bench["get_ratio"] == 0.95
    assert opts["keys"] == bench["keys"] == results.PROFILES["smoke"]["kv_keys"]
    assert opts["populate"] == 1
    assert out["results"]["get_misses"] == 0
    assert opts["host"] == rec["config"]["hosts"][server]["data_ip"]
    assert out["results"]["gets"] > 0
    # NetChannel through the module role's wrapper on both ends, TCP plain
    for command in (rec["config"]["client_command"], rec["config"]["server_command"]):
        wrapped = command.split()[0].endswith("/bin/netchannel")
        assert wrapped == (bench["protocol"] == "netchannel"), command


@pytest.mark.parametrize("item", REDIS, ids=lambda i: f"{i['variant']}-{i['point']}")
def test_redis_server_ran_on_the_servers_last_cpu(item):
    """netchannel_experiments_redis_cpu's default, 'last': one core, as the paper's server."""
    rec = _record(item)
    server = rec["config"]["server"]
    assert rec["config"]["redis_cpu"] == "last"
    vm = testinfra.get_host(f"ansible://{server}?ansible_inventory={INVENTORY}")
    online = vm.file("/sys/devices/system/cpu/online").content_string.strip()
    last = re.split("[-,]", online)[-1]
    assert online != last, f"{server} has one CPU ({online}): pinning cannot be told from none"
    text = (_rep_dir(item) / "raw" / server / "redis-affinity.txt").read_text()
    assert text.splitlines() == [f"wanted: {last}", f"Cpus_allowed_list:\t{last}"]


@pytest.mark.parametrize("item", REDIS, ids=lambda i: f"{i['variant']}-{i['point']}")
def test_redis_numbers_plausible(item):
    m = _record(item)["metrics"]
    assert m["requests_per_s"] > 0
    assert 0.5 < m["get_share"] <= 1  # 0.95 drawn per request; a 1 s window on the lab holds few
    assert 0 < m["latency_p50_us"] <= m["latency_p99_us"] <= m["latency_p999_us"]
    assert m["latency_mean_us"] > 0


@pytest.mark.parametrize("figure", FIGURES)
def test_csv_has_a_row_per_rep(figure):
    rows = list(csv.DictReader((RUN / "report" / f"{figure}.csv").open()))
    got = sorted((r["variant"], r["point"], int(r["rep"])) for r in rows)
    assert got == sorted((i["variant"], i["point"], i["rep"]) for i in PLANNED if i["figure"] == figure)
    for row in rows:
        for metric in results.FIGURES[figure]["metrics"]:
            assert float(row[metric]) > 0, f"{figure}.csv {row['variant']} {row['point']}: {metric} empty or 0"


@pytest.mark.parametrize("figure", FIGURES)
def test_png_per_figure(figure):
    data = (RUN / "report" / f"{figure}.png").read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 5000


def test_report_names_figures_and_lab():
    text = (RUN / "report" / "report.md").read_text()
    for figure in FIGURES:
        assert f"![{figure}]({figure}.png)" in text
    assert "software emulation" in text
    assert f"{len(PLANNED)} complete repetitions" in text


def test_config_is_the_hosts(host):
    """config.json holds each host's own kernel and data address, as the host reports them."""
    name = host.backend.get_hostname()
    config = json.loads((_rep_dir(PLANNED[0]) / "config.json").read_text())
    if name not in config["hosts"]:
        pytest.skip(f"{name} is neither client nor server of the run")
    mine = config["hosts"][name]
    assert mine["kernel"] == host.check_output("uname -r")
    assert mine["data_ip"] in host.check_output("ip -o -4 addr show")
    assert mine["ncbench"] == host.check_output("ncbench --version && nckv --version")
    assert mine["redis"] == host.check_output("redis-server --version").splitlines()
    assert mine["module"]["config"]["bulk"] > 0


def test_nothing_left_running(host):
    """Every server and background client the role started was stopped (or exited by itself)."""
    assert host.run("pgrep -x ncbench").stdout.strip() == ""
    assert host.run("pgrep -x nckv").stdout.strip() == ""
    # Debian's own redis-server service may run (127.0.0.1:6379); the role's (title ADDRESS:PORT) must not
    ours = [line for line in host.run("pgrep -a redis-server").stdout.splitlines() if f":{REDIS_PORT}" in line]
    assert ours == []


def test_same_run_id_resumes(ansible):
    before = sorted(p.relative_to(RUN) for p in RUN.rglob("rep-*"))
    proc = ansible("ansible-playbook", str(EXPERIMENTS), env=_env())
    assert proc.returncode == 0, proc.output[-3000:]
    assert f"{len(PLANNED)} of {len(PLANNED)} done, 0 left" in proc.output
    assert "Run the ncbench client" not in proc.output
    assert "Run nckv" not in proc.output
    assert sorted(p.relative_to(RUN) for p in RUN.rglob("rep-*")) == before
    assert f"report: {RUN}/report/report.md" in proc.output


def test_bad_input_fails_before_anything_runs(ansible):
    """A group with no server and a CPU that is not a number: each named, nothing measured or stored."""
    before = sorted(p.relative_to(RUN) for p in RUN.rglob("*"))
    proc = ansible(
        "ansible-playbook",
        str(EXPERIMENTS),
        "-e",
        "netchannel_experiments_server_group=nosuchgroup netchannel_experiments_run_id=molecule-bad"
        " netchannel_experiments_redis_cpu=two",
        env=_env(),
    )
    assert proc.returncode != 0
    assert "netchannel_experiments_server_group='nosuchgroup'" in proc.output
    assert "netchannel_experiments_redis_cpu='two': want 'last', a CPU number or ''" in proc.output
    assert not (RESULTS / "molecule-bad").exists()
    assert sorted(p.relative_to(RUN) for p in RUN.rglob("*")) == before


def test_a_cpu_the_server_lacks_fails_each_redis_rep_naming_it(ansible, lab_hosts):
    """Every figure 7 repetition fails with the check's own words (the variable, the CPU, the server's
    online CPUs), in the list the run ends with too; nothing is stored as complete. The NICs, given
    figure 7's profile, have the NIC stage's values again after the failed run."""
    run = "molecule-no-such-cpu"
    server = _record(REDIS[0])["config"]["server"]
    extra = {"netchannel_experiments_run_id": run, "netchannel_experiments_figures": ["7"]}
    extra["netchannel_experiments_redis_cpu"] = "4095"
    proc = ansible("ansible-playbook", str(EXPERIMENTS), "-e", json.dumps(extra), env=_env())
    assert proc.returncode != 0
    why = f"netchannel_experiments_redis_cpu=4095: CPU 4095 is not one {server} can run redis-server on (online: "
    for i in REDIS:
        assert f"{i['figure']} {i['variant']} {i['point']} rep {i['rep']}: {why}" in proc.output, proc.output[-3000:]
    assert not list((RESULTS / run).rglob("COMPLETE"))
    # figure 7 gave the NICs short_flows; the failed run still put the NIC stage's long_flows back
    assert "Give the data NICs of the client and the server the NIC profile short_flows" in proc.output
    assert "Give the data NICs of the client and the server the NIC profile restore" in proc.output
    for name, hv in lab_hosts.items():
        record = f"/var/lib/netchannel-nic/{hv['netchannel_data_interface']}.json"
        cmp = ansible("ansible", name, "-m", "netchannel.deploy.netchannel_nic", "-a", f"compare_with={record}", "-o")
        assert cmp.returncode == 0, cmp.output[-3000:]
        result, _ = json.JSONDecoder().raw_decode(cmp.output.split("=>", 1)[1].lstrip())
        assert (result["drift"], result["profile"]) == ([], "long_flows"), f"{name}: {result}"


# what each profile sets that the lab's virtio NIC shows (MTU, TSO)
NIC_SHOWS = {
    "long_flows": ("mtu 9000", "tcp-segmentation-offload: on"),
    "short_flows": ("mtu 1500", "tcp-segmentation-offload: off"),
}


@pytest.mark.parametrize("item", PLANNED, ids=lambda i: f"{i['figure']}-{i['variant']}-{i['point']}")
def test_each_figure_ran_on_its_nic_profile(item):
    """Both NICs had the figure's NIC profile when its repetition ran: the profile named in config.json,
    and the NIC as read after it was applied (6c and 7 short flows, 6ab and 6d long flows)."""
    want = item["setup"]["nic"]["profile"]
    config = _record(item)["config"]
    for name in (config["client"], config["server"]):
        mine = config["hosts"][name]
        assert mine["nic_profile"] == want, name
        for words in NIC_SHOWS[want]:
            assert words in mine["nic"], f"{name}: {words!r} not in {mine['nic']}"


@pytest.mark.parametrize(
    "item", [i for i in PLANNED if i["figure"] == "6c" and i["variant"] == "netchannel"], ids=lambda i: i["point"]
)
def test_channel_sweep_ran_with_the_points_channel_count(item):
    """6c's NetChannel points ran on a module reloaded with their bulk channel count, on both hosts."""
    rec = _record(item)
    want = item["setup"]["module"]["channels"]
    for name in (rec["config"]["client"], rec["config"]["server"]):
        module = rec["config"]["hosts"][name]["module"]
        assert module["config"]["bulk"] == want, name
        assert f";bulk={want};" in module["hosts_param"], name


def _role_table(host) -> str:
    conf = host.file("/etc/modprobe.d/netchannel.conf").content_string
    # the hosts= word of the options line (auth_required=1 follows it)
    options = next(ln.split()[2:] for ln in conf.splitlines() if ln.startswith("options "))
    return next(word.removeprefix("hosts=") for word in options if word.startswith("hosts="))


def test_module_table_is_the_module_roles_again_after_the_run(host):
    """The sweep's reloads are undone: the loaded table is the one the module role wrote."""
    assert host.file("/sys/module/netchannel/parameters/hosts").content_string.strip() == _role_table(host)


@pytest.mark.parametrize(
    "item",
    [i for i in PLANNED if i["variant"] == "netchannel" and "channels" not in ((i["setup"] or {}).get("module") or {})],
    ids=lambda i: f"{i['figure']}-{i['point']}",
)
def test_points_without_a_channel_count_ran_on_the_module_roles_table(item, host):
    """6d and 7 come after 6c's reloads: they ran on the module role's own table again."""
    name = host.backend.get_hostname()
    config = _record(item)["config"]
    if name not in config["hosts"]:
        pytest.skip(f"{name} is neither client nor server of the run")
    assert config["hosts"][name]["module"]["hosts_param"] == _role_table(host)
