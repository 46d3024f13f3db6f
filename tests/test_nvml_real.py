"""The real backend, exercised through pynvml's own ctypes marshalling (libs.md §4).

No GPU and no libnvidia-ml here: ``pynvml.nvmlLib`` is replaced by ``FakeNvmlLib``, an
object with methods named like the C symbols that write through the pointers pynvml
passes, so every RealBackend call goes through pynvml's real wrappers, structs and error
mapping. A symbol the fake lacks raises FUNCTION_NOT_FOUND, as with an older driver. The
no-library path points pynvml's loader at a library that does not exist.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import uuid

import pytest

from kubectl_dra.errors import ExitCode
from kubectl_dra.nvml import NvmlUnavailable
from kubectl_dra.nvml.collect import collect
from kubectl_dra.nvml.real import RealBackend
from tests.test_nvml_support import NOW

pynvml = pytest.importorskip("pynvml")

BUSES = [b"00000000:1A:00.0", b"00000000:1B:00.0"]
UUIDS = [b"GPU-00000000-0000-4000-8000-00000000000a", b"GPU-00000000-0000-4000-8000-00000000000b"]
MIG_UUID = b"MIG-00000000-0000-4000-8000-0000000000c1"
SWITCH = b"00000000:05:00.0"
CLUSTER = uuid.UUID("6f1c2a9e-0d52-4b3e-9c77-5a1d2e3f4a5b")
GPU, MIG, GI, CI = 0x1000, 0x2000, 0x3000, 0x4000  # handle "addresses": base + GPU index
SUCCESS, NOT_SUPPORTED, INVALID_ARGUMENT, NOT_FOUND = 0, 3, 2, 6

#: GPU 1's MIG profiles: index -> (id, slices, count, SMs, CE, DEC, ENC, JPEG, OFA, MiB, placements)
PROFILES = {
    0: (19, 1, 7, 16, 1, 1, 0, 1, 0, 9984, [(s, 1) for s in range(7)]),
    2: (9, 3, 2, 60, 3, 3, 0, 3, 0, 40448, [(0, 4), (4, 4)]),
}


def _int(x):
    return x.value if hasattr(x, "value") else int(x)


def _addr(h) -> int:
    return ctypes.cast(h, ctypes.c_void_p).value


def _put_pointer(ref, value: int) -> None:
    ctypes.cast(ctypes.addressof(ref._obj), ctypes.POINTER(ctypes.c_void_p))[0] = value


class FakeNvmlLib:
    """Two H100s: 2 direct NVLinks between them plus 2 switch links each; GPU 1 in MIG mode with
    one 3g.40gb instance at slice 4; no addressing-mode or NUMA symbols."""

    def __init__(self, init_rc: int = SUCCESS, lost: int | None = None, hidden: tuple[str, ...] = ()) -> None:
        self.init_rc = init_rc
        self.lost = lost
        self.hidden = hidden  # symbols this "library" lacks (an older driver)
        self.seen: list[str] = []

    def __getattribute__(self, name):
        if name.startswith("nvml"):
            if name in object.__getattribute__(self, "hidden"):
                raise AttributeError(name)
            object.__getattribute__(self, "seen").append(name)
        return object.__getattribute__(self, name)

    def _gpu(self, h) -> int:
        return _addr(h) - GPU

    # system
    def nvmlInitWithFlags(self, flags):
        return self.init_rc

    def nvmlShutdown(self):
        return SUCCESS

    def nvmlSystemGetDriverVersion(self, buf, size):
        buf.value = b"550.54.15"
        return SUCCESS

    def nvmlSystemGetCudaDriverVersion(self, ref):
        ref._obj.value = 12040
        return SUCCESS

    def nvmlSystemGetNVMLVersion(self, buf, size):
        buf.value = b"12.550.54.15"
        return SUCCESS

    # devices
    def nvmlDeviceGetCount_v2(self, ref):
        ref._obj.value = 2
        return SUCCESS

    def nvmlDeviceGetHandleByIndex_v2(self, index, ref):
        _put_pointer(ref, GPU + _int(index))
        return SUCCESS

    def nvmlDeviceGetName(self, h, buf, size):
        buf.value = b"NVIDIA H100 80GB HBM3"
        return SUCCESS

    def nvmlDeviceGetUUID(self, h, buf, size):
        buf.value = MIG_UUID if _addr(h) >= MIG else UUIDS[self._gpu(h)]
        return SUCCESS

    def nvmlDeviceGetMinorNumber(self, h, ref):
        ref._obj.value = self._gpu(h)
        return SUCCESS

    def nvmlDeviceGetBrand(self, h, ref):
        ref._obj.value = 14
        return SUCCESS

    def nvmlDeviceGetArchitecture(self, h, ref):
        ref._obj.value = 9
        return SUCCESS

    def nvmlDeviceGetCudaComputeCapability(self, h, major, minor):
        major._obj.value, minor._obj.value = 9, 0
        return SUCCESS

    def nvmlDeviceGetMemoryInfo(self, h, ref):
        if self._gpu(h) == self.lost:
            return 15  # GPU_IS_LOST
        ref._obj.total, ref._obj.free, ref._obj.used = 85520809984, 85000000000, 520809984
        return SUCCESS

    def nvmlDeviceGetPciInfo_v3(self, h, ref):
        ref._obj.busId = BUSES[self._gpu(h)]
        return SUCCESS

    # MIG
    def nvmlDeviceGetMigMode(self, h, current, pending):
        current._obj.value = pending._obj.value = self._gpu(h)  # GPU 0 off, GPU 1 on
        return SUCCESS

    def nvmlDeviceGetGpuInstanceProfileInfoV(self, h, profile, ref):
        p = PROFILES.get(_int(profile))
        if p is None:
            return NOT_SUPPORTED
        o = ref._obj
        (o.id, o.sliceCount, o.instanceCount, o.multiprocessorCount, o.copyEngineCount, o.decoderCount,
         o.encoderCount, o.jpegCount, o.ofaCount, o.memorySizeMB) = p[:10]  # fmt: skip
        o.name = b"MIG whatever"
        return SUCCESS

    def nvmlDeviceGetGpuInstancePossiblePlacements_v2(self, h, profile_id, placements, count):
        p = next(p for p in PROFILES.values() if p[0] == _int(profile_id))
        for i, (start, size) in enumerate(p[10]):
            placements[i].start, placements[i].size = start, size
        count._obj.value = len(p[10])
        return SUCCESS

    def nvmlDeviceGetMaxMigDeviceCount(self, h, ref):
        ref._obj.value = 7
        return SUCCESS

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h, index, ref):
        if _int(index) != 0:
            return NOT_FOUND
        _put_pointer(ref, MIG + self._gpu(h))
        return SUCCESS

    def nvmlDeviceGetGpuInstanceId(self, mh, ref):
        ref._obj.value = 3
        return SUCCESS

    def nvmlDeviceGetComputeInstanceId(self, mh, ref):
        ref._obj.value = 0
        return SUCCESS

    def nvmlDeviceGetGpuInstanceById(self, h, gi_id, ref):
        _put_pointer(ref, GI + _int(gi_id))
        return SUCCESS

    def nvmlGpuInstanceGetInfo(self, gi, ref):
        o = ref._obj
        o.id, o.profileId, o.placement.start, o.placement.size = _addr(gi) - GI, 9, 4, 4
        return SUCCESS

    def nvmlGpuInstanceGetComputeInstanceById(self, gi, ci_id, ref):
        _put_pointer(ref, CI + _int(ci_id))
        return SUCCESS

    def nvmlComputeInstanceGetInfo_v2(self, ci, ref):
        o = ref._obj
        o.id, o.profileId, o.placement.start, o.placement.size = _addr(ci) - CI, 2, 0, 3
        return SUCCESS

    # NVLink, topology, fabric
    def nvmlDeviceGetNvLinkState(self, h, link, ref):
        if _int(link) >= 4:
            return INVALID_ARGUMENT
        ref._obj.value = 1
        return SUCCESS

    def nvmlDeviceGetNvLinkVersion(self, h, link, ref):
        ref._obj.value = 4
        return SUCCESS

    def nvmlDeviceGetNvLinkRemotePciInfo_v2(self, h, link, ref):
        ref._obj.busId = BUSES[1 - self._gpu(h)] if _int(link) < 2 else SWITCH
        return SUCCESS

    def nvmlDeviceGetNvLinkRemoteDeviceType(self, h, link, ref):
        ref._obj.value = 0 if _int(link) < 2 else 2
        return SUCCESS

    def nvmlDeviceGetTopologyCommonAncestor(self, h1, h2, ref):
        ref._obj.value = 30  # NVML_TOPOLOGY_HOSTBRIDGE
        return SUCCESS

    def nvmlDeviceGetGpuFabricInfoV(self, h, ref):
        assert ref._obj.version == pynvml.nvmlGpuFabricInfo_v2  # the caller sets the struct version
        ref._obj.healthMask = 0x2A
        return self._fabric(ref._obj)

    def nvmlDeviceGetGpuFabricInfo(self, h, ref):
        return self._fabric(ref._obj)

    def _fabric(self, o):
        ctypes.memmove(o.clusterUuid, CLUSTER.bytes, 16)
        o.cliqueId, o.state, o.status = 7, 3, 0
        return SUCCESS


@pytest.fixture
def fake_lib(monkeypatch):
    def install(lib):
        monkeypatch.setattr(pynvml, "nvmlLib", lib)
        monkeypatch.setattr(pynvml, "_nvmlGetFunctionPointer_cache", {})
        monkeypatch.setattr(pynvml, "_nvmlLib_refcount", 0)
        return lib

    return install


@pytest.fixture
def sysfs(tmp_path):
    """GPU 0 is under root complex pci0000:15, NUMA node 0; GPU 1 has no sysfs entry."""
    real = tmp_path / "devices" / "pci0000:15" / "0000:15:01.0" / "0000:1a:00.0"
    real.mkdir(parents=True)
    (real / "numa_node").write_text("0\n")
    links = tmp_path / "bus" / "pci" / "devices"
    links.mkdir(parents=True)
    os.symlink(real, links / "0000:1a:00.0")
    return tmp_path


def test_collect_through_pynvml(fake_lib, sysfs):
    lib = fake_lib(FakeNvmlLib())
    s = collect(RealBackend(sysfs=sysfs), "dgx-1", now=NOW)
    assert (s.driver_version, s.cuda_driver_version, s.nvml_version) == ("550.54.15", "12.4", "12.550.54.15")
    assert not s.partial and s.errors == []
    g0, g1 = s.gpus
    assert (g0.uuid, g0.name, g0.brand, g0.architecture, g0.cuda_compute_capability) == (
        UUIDS[0].decode(), "NVIDIA H100 80GB HBM3", "Nvidia", "Hopper", "9.0")
    assert g0.memory_bytes == 85520809984 and g0.pci_bus_id == "00000000:1A:00.0" and g1.minor == 1
    assert (g0.numa_node, g0.pcie_root) == (0, "pci0000:15") and (g1.numa_node, g1.pcie_root) == (None, None)
    assert g0.addressing_mode is None  # symbol missing: FUNCTION_NOT_FOUND is "absent", not an error
    assert g0.mig_enabled is False and g1.mig_enabled is True
    assert [(p.profile, p.gi_profile_id, len(p.placements)) for p in g1.mig_profiles] == [("1g.10gb", 19, 7), ("3g.40gb", 9, 2)]
    (mig,) = g1.mig_devices
    assert (mig.uuid, mig.profile, mig.gi_id, mig.ci_id, mig.gi_profile_id) == (MIG_UUID.decode(), "3g.40gb", 3, 0, 9)
    assert (mig.placement.start, mig.placement.size, mig.memory_bytes, mig.multiprocessor_count) == (4, 4, 40448 << 20, 60)
    assert [(n.remote_type, n.remote_pci_bus_id) for n in g0.nvlinks] == [
        ("gpu", "00000000:1B:00.0"), ("gpu", "00000000:1B:00.0"), ("switch", "00000000:05:00.0"), ("switch", "00000000:05:00.0")]
    assert s.topology.matrix == [["X", "NV4"], ["NV4", "X"]] and s.topology.pcie == [["X", "PHB"], ["PHB", "X"]]
    assert g0.fabric.clique == f"{CLUSTER}.7" and g0.fabric.health_mask == 0x2A
    assert "nvmlDeviceGetGpuFabricInfo" not in lib.seen and lib.seen[-1] == "nvmlShutdown"


def test_older_library_and_bindings_fall_back(fake_lib, sysfs, monkeypatch):
    """No versioned fabric call in the library, no addressing-mode function in pynvml: v1 fabric
    info is used and the addressing mode is simply unknown; nothing is recorded as an error."""
    fake_lib(FakeNvmlLib(hidden=("nvmlDeviceGetGpuFabricInfoV",)))
    monkeypatch.delattr(pynvml, "nvmlDeviceGetAddressingMode")
    s = collect(RealBackend(sysfs=sysfs), "n", now=NOW)
    assert s.errors == [] and s.gpus[0].fabric.clique == f"{CLUSTER}.7" and s.gpus[0].fabric.health_mask is None
    assert s.gpus[0].addressing_mode is None


def test_nvml_errors_become_call_errors(fake_lib, sysfs):
    fake_lib(FakeNvmlLib(lost=1))
    s = collect(RealBackend(sysfs=sysfs), "n", now=NOW)
    assert s.gpus[1].lost and s.partial
    assert s.errors[0].to_dict() == {"gpu": 1, "call": "nvmlDeviceGetMemoryInfo", "error": "GPU_IS_LOST"}
    assert s.topology.matrix == [["X", "?"], ["?", "X"]]


def test_no_library_is_unavailable_with_a_hint(fake_lib, monkeypatch):
    fake_lib(None)
    monkeypatch.setattr(pynvml, "CDLL", lambda name: ctypes.CDLL("/nonexistent/" + name))
    with pytest.raises(NvmlUnavailable, match="nvmlInitWithFlags returned LIBRARY_NOT_FOUND") as err:
        collect(RealBackend(), "n")
    assert err.value.code == "LIBRARY_NOT_FOUND" and "libnvidia-ml.so.1" in err.value.hint
    assert err.value.exit_code == ExitCode.ERROR and "nvmlInitWithFlags" in str(err.value)


def test_no_kernel_driver_is_unavailable(fake_lib):
    fake_lib(FakeNvmlLib(init_rc=9))
    with pytest.raises(NvmlUnavailable, match="nvmlInitWithFlags returned DRIVER_NOT_LOADED") as err:
        collect(RealBackend(), "n")
    assert err.value.code == "DRIVER_NOT_LOADED" and "kernel driver" in err.value.hint


def test_no_pynvml_is_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    with pytest.raises(NvmlUnavailable, match=r"^the pynvml module \(package nvidia-ml-py\) is not installed$") as err:
        collect(RealBackend(), "n")
    assert "nvidia-ml-py" in err.value.hint


def test_importing_the_nvml_package_does_not_import_pynvml():
    code = (
        "import sys, kubectl_dra.nvml, kubectl_dra.nvml.real, kubectl_dra.nvml.collect, kubectl_dra.nvml.fake, "
        "kubectl_dra.nvml.resourceslice, kubectl_dra.nvml.compare; assert 'pynvml' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
