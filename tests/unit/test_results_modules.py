"""The netchannel_results_* modules' main(): parameters reach the library, check mode writes
nothing, bad input ends in fail_json with the file and field (never a traceback), changed is true
only when something was (or would be) written."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from pathload import load_file
from test_results import CONFIG, outputs_for, res

MODULES = Path(__file__).resolve().parents[2] / "plugins" / "modules"


class Done(Exception):
    def __init__(self, failed, result):
        super().__init__(result.get("msg", ""))
        self.failed, self.result = failed, result


def fake_module(params: dict, check_mode: bool):
    """AnsibleModule's stand-in: the options go through Ansible's own validator (types, choices,
    mutually_exclusive, required_one_of...); as in Ansible, an option given as None is given."""

    class Fake:
        def __init__(self, argument_spec, supports_check_mode, **checks):
            assert supports_check_mode
            self.check_mode = check_mode
            checked = ArgumentSpecValidator(argument_spec, **checks).validate(dict(params))
            if checked.error_messages:
                self.fail_json(msg="; ".join(checked.error_messages))
            self.params = checked.validated_parameters

        def exit_json(self, **kw):
            raise Done(False, kw)

        def fail_json(self, **kw):
            raise Done(True, kw)

    return Fake


def call(name, params, check_mode=False):
    mod = load_file(f"_t_{name}", MODULES / f"{name}.py")
    mod.results = res
    mod.AnsibleModule = fake_module(params, check_mode)
    with pytest.raises(Done) as got:
        mod.main()
    return got.value


def test_plan_record_report_through_the_modules(tmp_path):
    base = {"results_dir": str(tmp_path), "run_id": "m1"}
    got = call("netchannel_results_plan", base, check_mode=True)
    assert not got.failed
    assert got.result["changed"] is True
    assert not (tmp_path / "m1").exists()
    got = call("netchannel_results_plan", base)
    total = got.result["total"]
    assert got.result["changed"] is True
    assert f"0 of {total} done, {total} left" in got.result["msg"]
    assert call("netchannel_results_plan", base).result["changed"] is False
    item = next(i for i in got.result["remaining"] if i["figure"] == "6d" and i["variant"] == "tcp")
    rec = dict(
        base,
        figure="6d",
        variant="tcp",
        point=item["point"],
        outputs=outputs_for("rr", "tcp"),
        primary="client/ncbench.txt",
        config=CONFIG,
        params=item,
        duration_s=3.5,
    )
    got = call("netchannel_results_record", rec)
    assert not got.failed
    assert got.result["changed"] is True
    assert Path(got.result["rep_dir"], res.MARKER).is_file()
    assert got.result["progress"] == (
        f"figure 6d tcp {item['point']} rep 1: point 1 of {total}, elapsed 0m04s, "
        f"about {res._fmt_s(3.5 * (total - 1))} left"
    )
    got = call("netchannel_results_plan", base)
    assert f"1 of {total} done" in got.result["msg"]
    got = call("netchannel_results_report", base, check_mode=True)
    assert got.result["changed"] is True
    assert not (tmp_path / "m1" / "report").exists()
    assert call("netchannel_results_report", base).result["changed"] is True
    got = call("netchannel_results_report", base)
    assert got.result["changed"] is False
    assert got.result["changed_files"] == []


def test_module_errors_name_the_problem(tmp_path):
    got = call("netchannel_results_report", {"results_dir": str(tmp_path), "run_id": "none"})
    assert got.failed
    assert got.result["msg"] == f"netchannel_results_report: {tmp_path}/none: no such run directory"
    call("netchannel_results_plan", {"results_dir": str(tmp_path), "run_id": "m1"})
    outs = outputs_for("rr", "tcp")
    outs[0] = {k: v for k, v in outs[0].items() if k != "src"} | {"content": "# options\nrole=client\n"}
    got = call(
        "netchannel_results_record",
        {
            "results_dir": str(tmp_path),
            "run_id": "m1",
            "figure": "6d",
            "variant": "tcp",
            "point": "scenario-isolated",
            "outputs": outs,
            "primary": "client/ncbench.txt",
            "config": CONFIG,
        },
    )
    assert got.failed
    assert got.result["msg"].startswith(
        "netchannel_results_record: client/ncbench.txt: options without ncbench_version"
    )
    assert "rep left incomplete" in got.result["msg"]
    got = call("netchannel_results_plan", {"results_dir": str(tmp_path), "run_id": "m1", "seed": 5})
    assert got.failed
    assert "run m1 was started with seed=None, not 5" in got.result["msg"]
