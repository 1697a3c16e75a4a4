"""netchannel_nic engine: parsing recorded ethtool and /proc output (virtio-net from the lab, mlx5-like)."""

import json

import pytest
from nic_fake import DATA, engine


def _read(*parts):
    return (DATA.joinpath(*parts)).read_text()


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        ("0", [0]),
        ("0-3", [0, 1, 2, 3]),
        ("0-3,8,10-11", [0, 1, 2, 3, 8, 10, 11]),
        ("0-31:4", [0, 4, 8, 12, 16, 20, 24, 28]),
        ("", []),
    ],
)
def test_cpu_list_round_trip(text, cpus):
    assert engine.parse_cpu_list(text) == cpus
    if ":" not in text:
        assert engine.format_cpu_list(cpus) == text


@pytest.mark.parametrize("text", ["a", "3-1", "1,,2", "-1", "0-3:0"])
def test_bad_cpu_list_is_refused(text):
    with pytest.raises(ValueError, match="bad CPU"):
        engine.parse_cpu_list(text)


def test_cpu_masks():
    assert engine.parse_cpu_mask("00000000,00000003\n") == [0, 1]
    assert engine.parse_cpu_mask("0") == []
    assert engine.format_cpu_mask([0, 1]) == "3"
    assert engine.format_cpu_mask([33, 0]) == "2,00000001"
    assert engine.parse_cpu_mask(engine.format_cpu_mask([5, 40, 63])) == [5, 40, 63]


def test_mlx5_rings_channels_coalesce_text_and_json_agree():
    rings = engine.parse_rings(_read("mlx5", "ethtool-g.txt"))
    assert rings == {"rx": {"cur": 1024, "max": 8192}, "tx": {"cur": 1024, "max": 8192}}
    assert engine.parse_rings(_read("mlx5", "ethtool-json-g.txt")) == rings
    channels = engine.parse_channels(_read("mlx5", "ethtool-l.txt"))
    assert channels == {"combined": {"cur": 32, "max": 63}}
    assert engine.parse_channels(_read("mlx5", "ethtool-json-l.txt")) == channels
    co = engine.parse_coalesce(_read("mlx5", "ethtool-c.txt"))
    assert co == {
        "adaptive-rx": True,
        "adaptive-tx": True,
        "rx-usecs": 8,
        "rx-frames": 128,
        "tx-usecs": 16,
        "tx-frames": 32,
    }
    assert engine.parse_coalesce(_read("mlx5", "ethtool-json-c.txt")) == co


def test_mlx5_features():
    feats = engine.parse_features(_read("mlx5", "ethtool-k.txt"))
    assert feats["ntuple-filters"] == {"on": False, "fixed": False}
    assert feats["tcp-segmentation-offload"] == {"on": True, "fixed": False}
    assert feats["tx-checksum-ipv4"] == {"on": False, "fixed": True}
    assert feats["large-receive-offload"] == {"on": False, "fixed": False}


def test_mlx5_queue_irqs_of_one_port_only():
    irqs = engine.queue_irqs(engine.parse_interrupts(_read("mlx5", "interrupts.txt")), "ens2f0", None, "0000:5b:00.1")
    assert [(e["irq"], e["queue"]) for e in irqs] == [(126, 0), (127, 1), (128, 2), (129, 3)]
    assert all(e["name"].endswith("@pci:0000:5b:00.1") for e in irqs)


def test_virtio_recorded_outputs():
    rings = engine.parse_rings(_read("virtio", "ethtool-g.txt"))
    assert rings["rx"] == {"cur": 256, "max": 256}  # recorded with QEMU's default rx_queue_size
    assert rings["tx"]["max"] == 256
    assert engine.parse_channels(_read("virtio", "ethtool-l.txt"))["combined"]["max"] == 2
    feats = engine.parse_features(_read("virtio", "ethtool-k.txt"))
    assert feats["ntuple-filters"] == {"on": False, "fixed": True}
    assert feats["generic-receive-offload"]["fixed"] is False
    irqs = engine.queue_irqs(
        engine.parse_interrupts(_read("virtio", "interrupts.txt")), "eth1", "virtio2", "0000:00:04.0"
    )
    assert [(e["name"], e["queue"], e["kind"]) for e in irqs] == [
        ("virtio2-input.0", 0, "rx"),
        ("virtio2-output.0", 0, "tx"),
        ("virtio2-input.1", 1, "rx"),
        ("virtio2-output.1", 1, "tx"),
    ]
    # The disk (virtio0) and the management NIC (virtio1) are not the data NIC's queues.
    assert all(e["name"].startswith("virtio2-") for e in irqs)


def test_generic_driver_irq_names():
    text = (
        "           CPU0       CPU1\n"
        " 40:  1  0  IR-PCI-MSI 1-edge  eth1-TxRx-0\n"
        " 41:  1  0  IR-PCI-MSI 2-edge  eth1-TxRx-1\n"
        " 42:  1  0  IR-PCI-MSI 3-edge  eth10-TxRx-0\n"
        " 43:  1  0  IR-PCI-MSI 4-edge  eth1\n"
    )
    irqs = engine.queue_irqs(engine.parse_interrupts(text), "eth1", None, None)
    assert [(e["irq"], e["queue"]) for e in irqs] == [(40, 0), (41, 1)]


@pytest.mark.parametrize(
    ("entries", "queues", "per"), [(32768, 2, 16384), (32768, 32, 1024), (32768, 3, 16384), (0, 4, 0), (100, 1, 128)]
)
def test_rfs_per_queue(entries, queues, per):
    assert engine.rfs_per_queue(entries, queues) == per


def test_spreads():
    assert engine.spread([2, 3], 3) == [[2], [3], [2]]
    assert engine.xps_spread([0, 1, 2, 3], 2) == [[0, 2], [1, 3]]
    assert engine.xps_spread([5], 2) == [[5], [5]]


def test_virtio_json_features_match_text():
    text = engine.parse_features(_read("virtio", "ethtool-k.txt"))
    js = engine.parse_features(_read("virtio", "ethtool-json-k.txt"))
    for name in engine.FEATURES.values():
        assert js[name]["on"] == text[name]["on"], name
    assert js["ntuple-filters"]["fixed"] is True


def test_virtio_coalesce_and_qdisc():
    assert engine.parse_coalesce(_read("virtio", "ethtool-c.txt")) == {
        "rx-usecs": 0,
        "rx-frames": 1,
        "tx-usecs": 0,
        "tx-frames": 1,
    }
    qd = engine.parse_qdiscs(json.loads(_read("virtio", "tc-qdisc.json")))
    assert qd == {"root": "mq", "children": ["fq_codel"]}
    explicit = [
        {"kind": "mq", "handle": "8001:", "root": True},
        {"kind": "pfifo_fast", "handle": "0:", "parent": "8001:2"},
        {"kind": "pfifo_fast", "handle": "0:", "parent": "8001:1"},
    ]
    assert engine.parse_qdiscs(explicit) == {"root": "mq", "children": ["pfifo_fast"]}
    assert engine.parse_qdiscs([]) == {"root": None, "children": []}
