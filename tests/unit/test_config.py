import ipaddress

import pytest
from nclab.config import LabConfig, parse_data_subnet, parse_port_range, validate_count
from nclab.errors import LabError


def test_defaults():
    cfg = LabConfig.from_env({})
    assert cfg.count == 2
    assert cfg.host_names() == ["nclab1", "nclab2"]
    assert str(cfg.data_ip(1)) == "198.18.0.1"
    assert str(cfg.data_ip(2)) == "198.18.0.2"


@pytest.mark.parametrize("value", ["0", "-3"])
def test_count_below_one_is_refused(value):
    with pytest.raises(LabError, match=rf"NCLAB_COUNT={value}: a lab needs at least 1 VM"):
        LabConfig.from_env({"NCLAB_COUNT": value})


def test_count_not_a_number_names_variable_and_value():
    with pytest.raises(LabError, match=r"NCLAB_COUNT='two' \(environment\) is not a whole number"):
        LabConfig.from_env({"NCLAB_COUNT": "two"})


def test_count_flag_named_in_error():
    with pytest.raises(LabError, match=r"--count=0"):
        validate_count(0, "--count")
    with pytest.raises(LabError, match=r"at most 32"):
        validate_count(33, "--count")


def test_memory_out_of_range():
    with pytest.raises(LabError, match=r"NCLAB_MEMORY_MB=64 .* out of range"):
        LabConfig.from_env({"NCLAB_MEMORY_MB": "64"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10.0.0.0/24", "outside the benchmarking range"),
        ("192.168.1.0/24", "outside the benchmarking range"),
        ("198.19.255.0/24", "overlaps the lab management network"),
        ("198.18.0.1/24", "is not an IPv4 network"),
        ("banana", "is not an IPv4 network"),
    ],
)
def test_data_subnet_must_be_benchmarking_range(text, message):
    with pytest.raises(LabError, match=message):
        parse_data_subnet(text, "NCLAB_DATA_SUBNET")


def test_data_subnet_accepted():
    assert parse_data_subnet("198.19.7.0/24", "X") == ipaddress.ip_network("198.19.7.0/24")


def test_subnet_too_small_for_host():
    cfg = LabConfig.from_env({"NCLAB_DATA_SUBNET": "198.18.0.0/30", "NCLAB_COUNT": "3"})
    assert str(cfg.data_ip(2)) == "198.18.0.2"
    with pytest.raises(LabError, match="no room for host 3"):
        cfg.data_ip(3)


@pytest.mark.parametrize("text", ["22-100", "5000", "9000-8000", "a-b", "1024-70000"])
def test_bad_port_ranges(text):
    with pytest.raises(LabError, match=r"NCLAB_SSH_PORTS="):
        parse_port_range(text, "NCLAB_SSH_PORTS")


def test_bad_accel_and_abi_and_name():
    with pytest.raises(LabError, match=r"NCLAB_ACCEL='xen'"):
        LabConfig.from_env({"NCLAB_ACCEL": "xen"})
    with pytest.raises(LabError, match=r"NCLAB_KERNEL_ABI='latest'"):
        LabConfig.from_env({"NCLAB_KERNEL_ABI": "latest"})
    with pytest.raises(LabError, match=r"NCLAB_NAME='my-lab'"):
        LabConfig.from_env({"NCLAB_NAME": "my-lab"})
    assert LabConfig.from_env({"NCLAB_KERNEL_ABI": "6.1.0-56"}).kernel_abi == "6.1.0-56"


def test_data_queue_sizes_default_and_override():
    cfg = LabConfig.from_env({})
    assert (cfg.data_rx_queue_size, cfg.data_tx_queue_size) == (256, 256)
    assert LabConfig.from_env({"NCLAB_DATA_RX_QUEUE_SIZE": "1024"}).data_rx_queue_size == 1024


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"NCLAB_DATA_RX_QUEUE_SIZE": "300"},
            r"NCLAB_DATA_RX_QUEUE_SIZE=300 \(environment\) must be one of 256, 512, 1024",
        ),
        ({"NCLAB_DATA_RX_QUEUE_SIZE": "2048"}, r"NCLAB_DATA_RX_QUEUE_SIZE=2048 \(environment\) must be one of"),
        ({"NCLAB_DATA_RX_QUEUE_SIZE": "big"}, r"NCLAB_DATA_RX_QUEUE_SIZE='big' \(environment\) is not a whole number"),
        ({"NCLAB_DATA_TX_QUEUE_SIZE": "-256"}, r"NCLAB_DATA_TX_QUEUE_SIZE=-256 \(environment\) must be one of"),
        ({"NCLAB_DATA_TX_QUEUE_SIZE": "1024"}, r"NCLAB_DATA_TX_QUEUE_SIZE=1024 .*only with vhost-user"),
    ],
)
def test_bad_data_queue_sizes(env, message):
    with pytest.raises(LabError, match=message):
        LabConfig.from_env(env)
