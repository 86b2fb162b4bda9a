"""The launch guard: several launched processes that accelerate runs one by one are refused before any model loads."""

from __future__ import annotations

import pytest

from hf_ambiguity.distributed import LaunchError, check_launch, launched_world_size


class _State:
    def __init__(self, n, kind=None):
        self.num_processes = n
        if kind is not None:
            self.distributed_type = kind


def test_single_process_runs_pass():
    check_launch(_State(1), environ={})
    check_launch(_State(1), environ={"WORLD_SIZE": "1"})
    check_launch(_State(2), environ={"WORLD_SIZE": "2"})
    assert launched_world_size({}) == (1, None)
    assert launched_world_size({"WORLD_SIZE": "", "PMI_SIZE": "3"}) == (3, "PMI_SIZE")


def test_several_launched_processes_each_running_alone_are_refused():
    with pytest.raises(LaunchError, match=r"started 2 processes \(WORLD_SIZE=2\).*runs each of them alone.*"
                                          r"own GPU.*ACCELERATE_USE_CPU=true"):
        check_launch(_State(1, "NO"), environ={"WORLD_SIZE": "2"})
    with pytest.raises(LaunchError, match="group of 2"):
        check_launch(_State(2), environ={"WORLD_SIZE": "4"})
    with pytest.raises(LaunchError, match="WORLD_SIZE='two' is not a number"):
        launched_world_size({"WORLD_SIZE": "two"})


def test_a_real_accelerate_state_on_this_machine(monkeypatch):
    """accelerate's own PartialState without a CPU group flag: with WORLD_SIZE=2 on a machine without GPUs it runs
    alone (distributed type NO), which is exactly what the guard must catch."""
    torch = pytest.importorskip("torch")
    accelerate = pytest.importorskip("accelerate")
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    from accelerate.state import PartialState

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
    PartialState._reset_state()
    try:
        state = PartialState()
        assert state.num_processes == 1
        with pytest.raises(LaunchError, match="runs each of them alone"):
            check_launch(state)
    finally:
        PartialState._reset_state()
