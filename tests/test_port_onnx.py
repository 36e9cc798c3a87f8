"""The porting recipe on another kind of source: torchvision's ImageNet MobileNetV2 exported to ONNX,
its initializers read back (workbench.porting.read_state_dict on a ``.onnx`` path) and ported with
the torchvision recipe's rename table, config and processor (``onnx_recipe``). onnxruntime running the
ONNX file is the truth the port is checked against.

The export is ``dynamo=True, optimize=False``: the default ``optimize=True`` folds each BatchNorm into
its conv (``W * gamma / sqrt(var + eps)`` and a new ``<conv>.weight_bias``), and the conv weight and the
norm's four tensors cannot be recovered from those two (many splits give the same product), so such a
file is refused (it could only port, function-equal, into identity norms).
One export per module (~4-10 s on a loaded machine), into a temporary folder.
"""

from __future__ import annotations

import pytest
import torch

from assets import assets_dir
from workbench.porting.recipe import read_state_dict

pytestmark = pytest.mark.usefixtures("one_thread")

EGYPTIAN_CAT, TABBY, TIGER_CAT = 285, 281, 282  # ImageNet class indices


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(path of the ONNX file, class names, onnxruntime session on it)."""
    pytest.importorskip("torchvision")
    pytest.importorskip("onnxscript")  # the dynamo exporter builds the graph with it
    ort = pytest.importorskip("onnxruntime")
    from torchvision.models import mobilenet_v2

    from workbench.recipes import mobilenet_v2_torchvision as recipes

    cache = assets_dir()
    try:
        weights, names = recipes.weights_file(cache), recipes.class_names(cache)
    except OSError as error:
        pytest.skip(f"the MobileNetV2 weights or class names could not be fetched: {error}")
    model = mobilenet_v2()
    model.load_state_dict(read_state_dict(weights))
    path = tmp_path_factory.mktemp("onnx") / "mobilenet_v2.onnx"
    torch.onnx.export(model.eval(), (recipes.example_inputs(),), path, dynamo=True, optimize=False,
                      input_names=["pixel_values"], output_names=["logits"], verbose=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return path, names, ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def ported(exported, tmp_path_factory):
    from workbench.models.mobilenet_v2 import MobileNetV2ForImageClassification
    from workbench.porting.recipe import port
    from workbench.recipes.mobilenet_v2_torchvision import onnx_recipe

    path, names, _ = exported
    return port(onnx_recipe(names), read_state_dict(path), MobileNetV2ForImageClassification,
                tmp_path_factory.mktemp("port") / "mobilenet_v2")


def run_onnx(session, pixels: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(session.run(["logits"], {"pixel_values": pixels.numpy()})[0])


def test_every_initializer_is_ported_and_only_the_unexported_counters_are_filled(exported, ported):
    import onnx

    from workbench.recipes.mobilenet_v2_torchvision import onnx_recipe

    graph = onnx.load(str(exported[0])).graph
    state = read_state_dict(exported[0])
    assert set(state) == {init.name for init in graph.initializer} and len(state) == 262
    converted = onnx_recipe(exported[1]).convert(state)  # raises on any initializer no rule names
    assert len(converted) == len(state)  # none dropped: every initializer lands on a target key
    target = ported.model.state_dict()
    assert sorted(set(target) - set(converted)) == sorted(k for k in target if k.endswith("num_batches_tracked"))
    assert len(target) - len(converted) == 52
    assert all(torch.equal(converted[key], target[key]) for key in converted)
    # the exported tensors are torchvision's own, not folded or renamed
    assert converted["mobilenet_v2.conv_stem.first_conv.normalization.running_var"].shape == (32,)


def test_the_port_matches_onnxruntime_on_random_pixels_and_on_chelsea(exported, ported):
    data = pytest.importorskip("skimage.data")
    from test_port_mobilenet import torchvision_pixels

    session, model = exported[2], ported.model
    random = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))  # the export's fixed shape
    with torch.no_grad():
        ours = model(random).logits
    # within 1e-4 x (1 + |logit|): the two runtimes sum in different orders, which differ by CPU (logits reach ~20)
    torch.testing.assert_close(ours, run_onnx(session, random), atol=1e-4, rtol=1e-4)
    chelsea = torchvision_pixels([data.chelsea()])
    with torch.no_grad():
        ours = model(chelsea).logits
    truth = run_onnx(session, chelsea)
    torch.testing.assert_close(ours, truth, atol=1e-4, rtol=1e-4)
    top5 = truth.topk(5).indices[0].tolist()
    assert ours.topk(5).indices[0].tolist() == top5
    assert {EGYPTIAN_CAT, TABBY, TIGER_CAT} <= set(top5), [exported[1][i] for i in top5]


def test_an_export_with_folded_batch_norms_is_refused_with_the_export_setting_to_use():
    from workbench.porting.recipe import PortingError
    from workbench.recipes.mobilenet_v2_torchvision import onnx_recipe

    # what torch.onnx.export(..., dynamo=True) writes by default: the stem conv scaled, its norm a bias
    folded = {"features.0.0.weight": torch.zeros(32, 3, 3, 3), "features.0.0.weight_bias": torch.zeros(32)}
    with pytest.raises(PortingError, match=r"features\.0\.0\.weight_bias: .*folded.*optimize=False"):
        onnx_recipe([str(i) for i in range(1000)]).convert(folded)
