"""The qiskit extra: Qiskit results as raw data, Qiskit objects in the envelopes.

With Qiskit installed (the ``optional_deps`` nox session) every test runs; without it only the
tests of what happens without it run.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any

import anyio
import pytest

from async_qexp import ExperimentData, Provider
from async_qexp.models import decode_envelopes, dumps_runtime, encode_envelopes, loads_runtime

from ..helpers import ScriptedJob

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

HAVE_QISKIT = importlib.util.find_spec("qiskit") is not None
needs_qiskit = pytest.mark.skipif(not HAVE_QISKIT, reason="needs the qiskit extra")
without_qiskit = pytest.mark.skipif(HAVE_QISKIT, reason="Qiskit is installed here")


def _bell() -> Any:
    from qiskit import QuantumCircuit

    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    circuit.metadata = {"xval": 1}
    return circuit


async def test_async_qexp_never_imports_qiskit_itself() -> None:
    script = (
        "import sys, asyncio\n"
        "from async_qexp import ExperimentData\n"
        "from async_qexp.models import encode_envelopes, decode_envelopes\n"
        "async def main():\n"
        "    exp = ExperimentData(experiment_type='T1')\n"
        "    exp.add_data([{'counts': {'0': 1}}])\n"
        "    exp.add_analysis_results(name='v', value=1 + 2j)\n"
        "    ExperimentData.from_json(exp.to_json())\n"
        "    await exp.aclose()\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'qiskit'))\n"
    )
    done = await anyio.run_process([sys.executable, "-c", script])
    assert done.stdout.decode().strip() == "[]"


@without_qiskit
async def test_without_qiskit_its_envelopes_stay_as_they_are() -> None:
    envelope = {
        "__type__": "QuantumCircuit",
        "__value__": {
            "__type__": "b64encoded",
            "__value__": {"encoded": "UUlTS0lU", "compressed": False},
        },
    }
    assert decode_envelopes(envelope) == {"__type__": "QuantumCircuit", "__value__": b"QISKIT"}
    with pytest.raises(TypeError, match="Invalid data type"):
        ExperimentData().add_data(object())


@needs_qiskit
async def test_add_data_takes_a_backend_result() -> None:
    from qiskit.providers.basic_provider import BasicSimulator

    result = BasicSimulator().run(_bell(), shots=100, seed_simulator=7).result()
    async with ExperimentData(experiment_type="Bell") as exp:
        exp.add_data(result)
        (item,) = exp.data()
        assert set(item["counts"]) <= {"00", "11"}, "bit strings, not hex"
        assert sum(item["counts"].values()) == 100
        assert item["metadata"] == {"xval": 1}
        assert (item["shots"], item["meas_level"]) == (100, 2)
        assert item["job_id"] == result.job_id
        assert exp.job_ids == [result.job_id]
        json.loads(exp.to_json())


@needs_qiskit
async def test_add_data_takes_primitive_and_pub_results() -> None:
    from qiskit.primitives import StatevectorEstimator, StatevectorSampler
    from qiskit.quantum_info import SparsePauliOp

    sampled = StatevectorSampler(seed=3).run([_bell(), _bell()], shots=50).result()
    unmeasured = _bell().remove_final_measurements(inplace=False)
    estimated = StatevectorEstimator().run([(unmeasured, SparsePauliOp("ZZ"))]).result()
    async with ExperimentData(experiment_type="Bell") as exp:
        exp.add_data(sampled)
        exp.add_data(sampled[0])
        exp.add_data(estimated[0])
        first, second, single, estimate = exp.data()
        for item in (first, second, single):
            assert item["meas_level"] == 2
            assert item["shots"] == 50
            assert sum(item["counts"].values()) == 50
            assert len(item["memory"]) == 50
            assert item["metadata"] == {"xval": 1}
            assert "job_id" not in item, "a primitive result does not know its job"
        assert float(estimate["evs"]) == pytest.approx(1.0)
        assert exp.job_ids == []


@needs_qiskit
async def test_a_parameterised_pub_is_refused_and_nothing_is_added() -> None:
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter
    from qiskit.primitives import StatevectorSampler

    theta = Parameter("t")
    circuit = QuantumCircuit(1, 1)
    circuit.rx(theta, 0)
    circuit.measure(0, 0)
    result = StatevectorSampler().run([(circuit, [[0.1], [0.2]])], shots=10).result()
    exp = ExperimentData()
    with pytest.raises(ValueError, match="outer dimensions"):
        exp.add_data([{"before": 1}, result])
    assert exp.data() == []


@needs_qiskit
async def test_counts_are_a_dict() -> None:
    from qiskit.result import Counts

    exp = ExperimentData()
    exp.add_data(Counts({"0x0": 3, "0x3": 1}, memory_slots=2))
    assert exp.data() == [{"00": 3, "11": 1}]


@needs_qiskit
async def test_jobs_that_return_qiskit_results() -> None:
    from qiskit.primitives import StatevectorSampler
    from qiskit.providers.basic_provider import BasicSimulator

    async with ExperimentData(experiment_type="Bell") as exp:
        backend_job = BasicSimulator().run(_bell(), shots=20)  # sync result(), job_id() method
        sampler_job = ScriptedJob(
            "sampler-1", StatevectorSampler().run([_bell()], shots=30).result()
        )
        sampler_job.release.set()
        exp.add_jobs([backend_job, sampler_job])
        await exp.block_for_results()
        backend_item, sampler_item = exp.data()
        assert backend_item["job_id"] == backend_job.job_id()
        assert backend_item["shots"] == 20
        assert sampler_item["job_id"] == "sampler-1"
        assert sampler_item["shots"] == 30


@needs_qiskit
async def test_qiskit_objects_round_trip_through_the_envelopes() -> None:
    from qiskit.circuit import Parameter
    from qiskit.circuit.library import RXGate
    from qiskit.quantum_info import Operator, SparsePauliOp, Statevector

    theta = Parameter("theta")
    values = [
        _bell(),
        RXGate(0.25),
        2 * theta + 1,
        Statevector.from_label("01"),
        SparsePauliOp(["ZZ", "XI"], [1.0, 0.5]),
        Operator.from_label("X"),
    ]
    for value in values:
        tree = json.loads(json.dumps(encode_envelopes({"v": value})))
        assert decode_envelopes(tree)["v"] == value
        assert loads_runtime(dumps_runtime({"v": value}))["v"] == value


@needs_qiskit
async def test_a_quantum_info_envelope_rebuilds_only_quantum_info_classes() -> None:
    forged = {
        "__type__": "qiskit.quantum_info",
        "__value__": {"class": "QuantumCircuit", "settings": {}},
    }
    assert decode_envelopes(forged) == forged
    settings = {"__type__": "settings", "__module__": "os", "__class__": "system", "__value__": {}}
    assert decode_envelopes(settings) == {}


@needs_qiskit
async def test_qiskit_objects_saved_and_loaded(provider: Provider) -> None:
    from qiskit.quantum_info import Statevector

    circuit = _bell()
    async with ExperimentData(
        service=provider, experiment_type="Bell", backend="ibmq_lima", metadata={"circuit": circuit}
    ) as exp:
        exp.add_analysis_results(name="state", value=Statevector.from_label("11"))
        await exp.save(suppress_errors=False)
        loaded = await ExperimentData.load(exp.experiment_id, provider)
        assert loaded.metadata["circuit"] == circuit
        (row,) = await loaded.analysis_results()
        assert row.value == Statevector.from_label("11")
        copy = ExperimentData.from_json(loaded.to_json())
        assert copy.metadata["circuit"] == circuit
        await copy.aclose()
        await loaded.aclose()
