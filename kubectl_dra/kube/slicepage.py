"""ResourceSlice list pages decoded straight from the wire into typed structs (msgspec).

The largest phase of a live listing is turning a page of slices into devices. Parsing the page into
dicts and walking them (``model.decode.decode_slice``) builds a dict for every attribute value and
every object's metadata (managedFields included) only to read a few fields of each. Here msgspec
decodes each page into structs that hold only what decode reads, checking the types as it goes, and
``model.decode.decode_slice_typed`` builds the same ``ResourceSlice`` from them.

This is a short cut, never a second set of rules. The structs accept only the common shape: every
field that decode reads holds the type the API gives it, devices carry only ``name``, ``attributes``
and ``capacity`` (with only ``value``), a spec only ``driver``, ``pool``, ``nodeName``, ``allNodes``
and ``devices``, and integers fit what orjson reads as integers. Anything else (a selector, counters,
taints, a v1beta1 layout, a value of the wrong type, malformed JSON) makes ``decode_page`` answer
None, and the caller takes the exact path for that page, with its warnings and errors.

Without msgspec installed every page takes the exact path.
"""

import builtins
from typing import Annotated, Optional, Union

try:  # pragma: no cover - exercised by whichever is installed
    import msgspec
except ImportError:  # pragma: no cover
    msgspec = None

from kubectl_dra.model.decode import GROUP, decode_slice_typed
from kubectl_dra.model.slices import ResourceSlice

#: the versions with flat devices and ``{value: ...}`` capacities (v1beta1 and v1alpha3 take the exact path)
VERSIONS = ("v1", "v1beta2")

if msgspec is not None:
    # orjson reads an integer beyond 64 bits as a float, which decode refuses or rounds: an integer
    # beyond int64 (what the API stores) is left to the exact path
    _Int = Annotated[builtins.int, msgspec.Meta(ge=-(1 << 63), le=(1 << 63) - 1)]

    # an attribute's kinds are absent or hold a value, never null: a page that repeats a key with
    # null (which the exact path reads as the null) takes the exact path
    class _Attribute(msgspec.Struct, forbid_unknown_fields=True):
        string: Union[str, msgspec.UnsetType] = msgspec.UNSET
        int: Union[_Int, msgspec.UnsetType] = msgspec.UNSET
        bool: Union[builtins.bool, msgspec.UnsetType] = msgspec.UNSET
        version: Union[str, msgspec.UnsetType] = msgspec.UNSET

    class _Capacity(msgspec.Struct, forbid_unknown_fields=True):
        value: Optional[str] = None

    class _Device(msgspec.Struct, forbid_unknown_fields=True):
        name: Optional[str] = None
        attributes: Optional[dict[str, _Attribute]] = None
        capacity: Optional[dict[str, _Capacity]] = None

    class _Pool(msgspec.Struct):
        name: str
        generation: _Int
        resourceSliceCount: _Int

    class _Spec(msgspec.Struct, forbid_unknown_fields=True):
        driver: Optional[str] = None
        pool: Optional[_Pool] = None
        nodeName: Optional[str] = None
        allNodes: Optional[bool] = None
        devices: Optional[list[_Device]] = None

    class _Metadata(msgspec.Struct):
        name: Optional[str] = None
        namespace: Optional[str] = None
        uid: Optional[str] = None
        creationTimestamp: Optional[str] = None

    class _Item(msgspec.Struct):
        kind: Optional[str] = None
        apiVersion: Optional[str] = None
        metadata: Optional[_Metadata] = None
        spec: Optional[_Spec] = None

    class _ListMeta(msgspec.Struct, rename={"continue_": "continue"}):
        continue_: Optional[str] = None
        resourceVersion: Optional[str] = None

    class _Page(msgspec.Struct):
        kind: Optional[str] = None
        apiVersion: Optional[str] = None
        metadata: Optional[_ListMeta] = None
        items: Optional[list[_Item]] = None

    _decoder = msgspec.json.Decoder(_Page)


def decode_page(data: bytes) -> "tuple[list[ResourceSlice], str] | None":
    """(slices, continue token) of one page of a ResourceSlice list; None when the page needs the exact path."""
    if msgspec is None:
        return None
    try:
        page = _decoder.decode(data)
    except (msgspec.DecodeError, RecursionError):  # a ValidationError is a DecodeError
        return None
    api_version = page.apiVersion
    if page.kind != "ResourceSliceList" or not api_version:
        return None
    group, _, version = api_version.rpartition("/")
    if group != GROUP or version not in VERSIONS:
        return None
    slices = []
    for item in page.items or ():
        if (item.kind is not None and item.kind != "ResourceSlice") or (item.apiVersion is not None and item.apiVersion != api_version):
            return None
        decoded = decode_slice_typed(item, version, msgspec.UNSET)
        if decoded is None:
            return None
        slices.append(decoded)
    token = page.metadata.continue_ if page.metadata is not None else None
    return slices, token or ""
