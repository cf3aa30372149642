"""Normalising captured graphs and diffing them: style never matters, every real change is named."""

from __future__ import annotations

import json

import pytest

from grader.graph.diff import compare
from grader.graph.normalise import GraphError, canonical_op, normalise
from tests import architecture_factory as f


def seq(built: f.Built):
    return normalise(built.graph, built.param_shapes)


def diff(student: f.Built, reference: f.Built, **options):
    return compare(seq(student), seq(reference), **options)


def messages(comparison) -> list[str]:
    return [d.message for d in comparison.differences]


def only(comparison):
    (d,) = comparison.differences
    return d


REFERENCES = {
    "PoolUpsampleNet": f.pool_upsample_net,
    "ConvTransposeNet": f.conv_transpose_net,
    "UNet": f.unet,
    "CNN": f.cnn2020,
    "UNet2020": f.unet2020,
}


# ---------------------------------------------------------------------------------- normalising
def test_handout_pool_upsample_net_reads_like_the_handout_table():
    layers = seq(f.pool_upsample_net()).to_dict()
    assert [(x["block"], x["layer"]) for x in layers] == [
        (1, "Conv2d(1, 32, kernel_size=3, padding=1)"), (1, "MaxPool2d(kernel_size=2)"),
        (1, "BatchNorm2d(32)"), (1, "ReLU()"),
        (2, "Conv2d(32, 64, kernel_size=3, padding=1)"), (2, "MaxPool2d(kernel_size=2)"),
        (2, "BatchNorm2d(64)"), (2, "ReLU()"),
        (3, "Conv2d(64, 32, kernel_size=3, padding=1)"),
        (3, "Upsample(scale_factor=2, mode='nearest')"), (3, "BatchNorm2d(32)"), (3, "ReLU()"),
        (4, "Conv2d(32, 24, kernel_size=3, padding=1)"),
        (4, "Upsample(scale_factor=2, mode='nearest')"), (4, "BatchNorm2d(24)"), (4, "ReLU()"),
        (5, "Conv2d(24, 24, kernel_size=3, padding=1)")]


def test_unet_concatenations_open_the_block_that_consumes_them():
    layers = seq(f.unet()).to_dict()
    assert layers[9] == {"block": 4, "layer": "cat(out1, out3, dim=1)", "module": None}
    assert layers[10]["layer"] == ("ConvTranspose2d(64, 24, kernel_size=3, stride=2, padding=1, "
                                   "output_padding=1)")
    assert layers[13]["layer"] == "cat(x, out4, dim=1)"
    assert layers[14] == {"block": 5, "layer": "Conv2d(25, 24, kernel_size=3, padding=1)",
                          "module": "finalconv.0"}


@pytest.mark.parametrize("raw, canonical", [
    ("relu_", "relu"), ("torch.relu", "relu"), ("aten::relu_", "relu"), ("__iadd__", "add"),
    ("interpolate", "upsample"), ("max_pool2d_with_indices", "max_pool2d"), ("concat", "cat"),
    ("F.conv2d", "conv2d")])
def test_op_spellings_are_canonical(raw, canonical):
    assert canonical_op(raw) == canonical


def test_kernel_size_comes_from_module_attrs_when_no_shapes_are_known():
    built = f.pool_upsample_net(k=5)
    without = normalise(built.graph)
    assert "kernel_size=?" in without.layers[0].describe(without)
    with_modules = normalise(built.graph, modules=built.modules)
    assert with_modules.layers[0].describe(with_modules) == \
        "Conv2d(1, 32, kernel_size=5, padding=2)"


def test_malformed_graph_is_a_grader_error():
    with pytest.raises(GraphError):
        normalise({"nodes": [{"op": "relu"}], "output": 0})
    with pytest.raises(GraphError):
        normalise({"output": 0})


# ------------------------------------------------------------------------------- what passes
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_identical_models_match_row_for_row(name):
    build = REFERENCES[name]
    comparison = diff(build(), build())
    assert comparison.ok and comparison.fraction == 1.0
    assert comparison.matched == comparison.reference_layers == len(seq(build()).layers)
    assert {row["status"] for row in comparison.table} == {"match"}
    json.dumps(comparison.details())  # goes straight into result.json


@pytest.mark.parametrize("relu", ["functional", "inplace"])
def test_functional_module_and_inplace_relu_are_the_same(relu):
    student = f.pool_upsample_net(relu=relu)
    assert [x.module for x in seq(student).layers if x.op == "relu"] == [None] * 4
    assert diff(student, f.pool_upsample_net()).ok


def test_identity_ops_and_eval_dropout_are_ignored():
    noops = (f.with_noop("contiguous"), f.with_noop("view"), f.with_noop("dropout", p=0.0),
             f.with_extra("dropout", p=0.3, training=False), f.with_noop("identity"))
    student = f.pool_upsample_net(blocks={2: {"extras": noops}, 4: {"extras": noops[:2]}})
    assert len(student.graph["nodes"]) == 17 + 7
    assert diff(student, f.pool_upsample_net()).ok


def test_padding_same_string_equals_the_integer():
    student = f.GraphBuilder((2, 1, 32, 32))
    reference = f.GraphBuilder((2, 1, 32, 32))
    a = student.conv2d(student.x, 8, 5, padding=2, padding_attr="same")
    b = reference.conv2d(reference.x, 8, 5, padding=2)
    got = compare(normalise(student.graph(a), student.param_shapes),
                  normalise(reference.graph(b), reference.param_shapes))
    assert got.ok


def test_upsample_by_size_is_the_same_as_by_factor():
    student, reference = f.GraphBuilder((2, 4, 8, 8)), f.GraphBuilder((2, 4, 8, 8))
    a = student.upsample(student.x, size=16)
    b = reference.upsample(reference.x, 2, module="up")
    assert compare(normalise(student.graph(a)), normalise(reference.graph(b))).ok


def test_module_names_and_node_ids_do_not_matter():
    built = f.unet()
    renamed = f.rename_modules(built.graph, lambda name: "layer_" + name.replace(".", "_"))
    shapes = {f"layer_{k.rsplit('.', 1)[0].replace('.', '_')}.{k.rsplit('.', 1)[1]}": v
              for k, v in built.param_shapes.items()}
    for node in renamed["nodes"]:  # string ids, as a capture may use
        node["id"] = f"n{node['id']}"
        for ref in node["inputs"]:
            if "node" in ref:
                ref["node"] = f"n{ref['node']}"
    renamed["output"] = f"n{renamed['output']}"
    assert compare(normalise(renamed, shapes), seq(built)).ok


def test_negative_cat_dim_is_the_channel_dim():
    built = f.unet()
    for node in built.graph["nodes"]:
        if node["op"] == "cat":
            node["attrs"]["dim"] = -3
    assert diff(built, f.unet()).ok


@pytest.mark.parametrize("build", [f.unet, f.unet2020])
def test_both_concatenation_orders_pass(build):
    kwargs = {"skip_first": (False, False)} if build is f.unet else {"decoder_first": False}
    comparison = diff(build(**kwargs), build())
    assert comparison.ok
    assert comparison.notes and all("other order" in n and "accepted" in n
                                    for n in comparison.notes)


def test_one_concatenation_in_each_order_passes():
    assert diff(f.unet(skip_first=(True, False)), f.unet()).ok


def test_other_configurations_compare_like_for_like():
    assert diff(f.unet(k=5, nf=8, nc=10, nic=3), f.unet(k=5, nf=8, nc=10, nic=3)).ok
    comparison = diff(f.pool_upsample_net(k=5), f.pool_upsample_net())
    assert not comparison.ok
    assert "block 1: Conv2d kernel_size 5, padding 2, expected kernel_size 3, padding 1" in \
        messages(comparison)


def test_computation_that_does_not_reach_the_output_is_ignored():
    built = f.pool_upsample_net()
    g = built.graph
    g["nodes"].append({"id": "stray", "op": "relu", "inputs": [{"input": 0}], "attrs": {},
                       "module": None, "module_type": None, "shape": [2, 1, 32, 32]})
    assert diff(built, f.pool_upsample_net()).ok


# -------------------------------------------------------------------------------- what fails
def test_missing_batchnorm_is_located_after_the_layer_before_it():
    comparison = diff(f.pool_upsample_net(blocks={2: {"bn": False}}), f.pool_upsample_net())
    d = only(comparison)
    assert d.message == "block 2: expected BatchNorm2d(64) after MaxPool2d, found none"
    assert (d.kind, d.expected, d.found) == ("missing", "BatchNorm2d(64)", None)
    assert d.location == "block 2, after MaxPool2d"
    (row,) = [r for r in comparison.table if r["status"] != "match"]
    assert row == {"block": "2", "student": None, "reference": "BatchNorm2d(64)",
                   "status": "missing"}
    assert comparison.fraction == pytest.approx(16 / 17)


def test_relu_before_batchnorm_is_an_order_difference():
    comparison = diff(f.pool_upsample_net(blocks={1: {"order": "relu_before_bn"}}),
                      f.pool_upsample_net())
    d = only(comparison)
    assert d.kind == "order"
    assert d.message.startswith("block 1: ReLU comes before BatchNorm2d")
    assert d.expected == "Conv2d → MaxPool2d → BatchNorm2d → ReLU"
    assert d.found == "Conv2d → MaxPool2d → ReLU → BatchNorm2d"
    rows = [r for r in comparison.table if r["block"] == "1"]
    assert [r["status"] for r in rows] == ["match", "match", "mismatch", "mismatch"]
    assert [r["student"] for r in rows[2:]] == ["ReLU()", "BatchNorm2d(32)"]
    assert comparison.fraction == pytest.approx(15 / 17)


def test_pool_after_activation_fails_unless_the_rubric_accepts_it():
    student = f.pool_upsample_net(blocks={1: {"order": "resample_last"},
                                          2: {"order": "resample_last"}})
    strict = diff(student, f.pool_upsample_net())
    assert [d.kind for d in strict.differences] == ["order", "order"]
    assert strict.differences[1].message.startswith("block 2: BatchNorm2d comes before MaxPool2d")
    lenient = diff(student, f.pool_upsample_net(), allow=["resample_order"])
    assert lenient.ok and len(lenient.notes) == 2
    # Accepting the resample position does not accept BN/ReLU swaps.
    swapped = f.pool_upsample_net(blocks={1: {"order": "relu_before_bn"}})
    assert not diff(swapped, f.pool_upsample_net(), allow=["resample_order"]).ok
    with pytest.raises(ValueError, match="unknown variation"):
        diff(student, f.pool_upsample_net(), allow=["anything_goes"])


def test_wrong_padding_names_the_block_and_both_values():
    comparison = diff(f.pool_upsample_net(blocks={3: {"padding": 0}}), f.pool_upsample_net())
    d = only(comparison)
    assert d.message == "block 3: Conv2d kernel 3 padding 0, expected padding 1"
    assert (d.expected, d.found) == ("padding=1", "padding=0")
    (row,) = [r for r in comparison.table if r["status"] == "mismatch"]
    assert row["student"] == "Conv2d(64, 32, kernel_size=3)"
    assert row["reference"] == "Conv2d(64, 32, kernel_size=3, padding=1)"


def test_wrong_stride():
    d = only(diff(f.conv_transpose_net(blocks={2: {"stride": 1}}), f.conv_transpose_net()))
    assert d.message == "block 2: Conv2d kernel 3 stride 1, expected stride 2"


def test_missing_output_padding_on_both_transposed_convs():
    comparison = diff(f.conv_transpose_net(output_padding=0), f.conv_transpose_net())
    assert [d.block for d in comparison.differences] == [3, 4]
    assert all("output_padding 0, expected output_padding 1" in m for m in messages(comparison))


def test_avgpool_instead_of_maxpool():
    d = only(diff(f.pool_upsample_net(blocks={2: {"pool": "avg"}}), f.pool_upsample_net()))
    assert d.kind == "replaced"
    assert d.message == ("block 2: found AvgPool2d(kernel_size=2), expected "
                         "MaxPool2d(kernel_size=2)")


def test_bilinear_instead_of_nearest_upsampling():
    d = only(diff(f.pool_upsample_net(blocks={4: {"up_mode": "bilinear"}}),
                  f.pool_upsample_net()))
    assert d.message == "block 4: Upsample mode 'bilinear', expected mode 'nearest'"


def test_dropped_skip_connection():
    comparison = diff(f.unet(skip1="none"), f.unet())
    first, second = comparison.differences
    assert first.kind == "skip"
    assert first.message.startswith("block 4: the skip connection from block 1 is missing")
    assert second.message == "block 4: ConvTranspose2d in_channels 32, expected in_channels 64"
    (image,) = [d for d in diff(f.unet(skip2="none"), f.unet()).differences if d.kind == "skip"]
    assert image.message.startswith("block 5: the skip connection from the input image is "
                                    "missing")


def test_skip_added_instead_of_concatenated():
    comparison = diff(f.unet(skip1="add"), f.unet())
    assert messages(comparison)[0] == ("block 4: the skip connection from block 1 is added (add) "
                                       "instead of concatenated (cat)")
    assert comparison.table[9]["student"] == "add(out1, out3)"
    assert comparison.table[9]["status"] == "mismatch"


def test_skip_taken_from_inside_a_block():
    d = only(diff(f.unet(skip1_from="bn1"), f.unet()))
    assert d.kind == "skip"
    assert d.message == ("block 4: the skip connection comes from block 1's BatchNorm2d (inside "
                         "the block, not its output), expected block 1's output")
    assert d.found == "cat(block1.BatchNorm2d, out3, dim=1)"


def test_skip_from_the_wrong_block():
    g = f.GraphBuilder((2, 1, 32, 32))
    x1 = g.act(g.conv2d(g.x, 8, module="a"), module="a_act")
    x2 = g.act(g.conv2d(x1, 8, module="b"), module="b_act")
    x3 = g.act(g.conv2d(x2, 8, module="c"), module="c_act")
    right = g.conv2d(g.cat([x3, x1]), 4, module="d")
    wrong_builder = f.GraphBuilder((2, 1, 32, 32))
    w = wrong_builder
    y1 = w.act(w.conv2d(w.x, 8, module="a"), module="a_act")
    y2 = w.act(w.conv2d(y1, 8, module="b"), module="b_act")
    y3 = w.act(w.conv2d(y2, 8, module="c"), module="c_act")
    wrong = w.conv2d(w.cat([y3, y2]), 4, module="d")
    comparison = compare(normalise(w.graph(wrong), w.param_shapes),
                         normalise(g.graph(right), g.param_shapes))
    d = only(comparison)
    assert d.message == ("block 4: the skip connection comes from block 2's output, expected "
                         "block 1's output")


def test_layer_fed_from_the_wrong_tensor():
    g = f.GraphBuilder((2, 1, 32, 32))
    a = g.act(g.conv2d(g.x, 8, module="a"))
    b = g.act(g.conv2d(a, 8, module="b"))
    ok = g.conv2d(b, 8, module="c")
    w = f.GraphBuilder((2, 1, 32, 32))
    a2 = w.act(w.conv2d(w.x, 8, module="a"))
    b2 = w.act(w.conv2d(a2, 8, module="b"))
    bad = w.conv2d(a2, 8, module="c")  # block 2 computed, then its result dropped
    d = [x for x in compare(normalise(w.graph(w.add(bad, b2)), w.param_shapes),
                            normalise(g.graph(ok), g.param_shapes)).differences
         if x.kind == "source"]
    assert d and d[0].message == ("block 3: Conv2d takes its input from block 1's output, "
                                  "expected the previous layer")


def test_softmax_at_the_end():
    comparison = diff(f.pool_upsample_net(softmax=True), f.pool_upsample_net())
    d = only(comparison)
    assert d.message.startswith("extra Softmax(dim=1) after the final convolution")
    assert "logits" in d.message
    assert comparison.table[-1] == {"block": "5", "student": "Softmax(dim=1)", "reference": None,
                                    "status": "extra"}
    assert comparison.fraction == pytest.approx(17 / 18)


def test_final_layer_computed_but_not_used():
    comparison = diff(f.pool_upsample_net(final="unused"), f.pool_upsample_net())
    kinds = {d.kind: d for d in comparison.differences}
    assert kinds["missing"].message.startswith("the final block 5 is missing: expected Conv2d(24")
    assert "conv5.0" in kinds["unused"].message and "never used" in kinds["unused"].message
    assert comparison.table[-1]["status"] == "missing"


def test_missing_middle_block_is_one_difference():
    d = only(diff(f.pool_upsample_net(), f.cnn2020(conv_type="Conv2d")))
    assert d.message == ("block 3 is missing: expected Conv2d(64, 64, kernel_size=3, padding=1) → "
                         "BatchNorm2d(64) → ReLU()")


def test_extra_dropout_in_training_mode_is_reported_in_its_block():
    student = f.pool_upsample_net(blocks={3: {"extras": (
        f.with_extra("dropout", p=0.2, training=True),)}})
    d = only(diff(student, f.pool_upsample_net()))
    assert d.message == "block 3: Dropout(p=0.2) is not in the handout's model"
    assert d.location == "block 3, after ReLU"


def test_wrong_width_is_reported_per_layer_not_as_a_wall_of_gaps():
    comparison = diff(f.pool_upsample_net(nf=16), f.pool_upsample_net())
    assert {d.kind for d in comparison.differences} == {"attribute"}
    assert messages(comparison)[0] == ("block 1: Conv2d out_channels 16, expected out_channels "
                                       "32")
    assert all(r["status"] in ("match", "mismatch") for r in comparison.table)


def test_module_types_rule_for_2020():
    wrong = diff(f.cnn2020(conv_type="Conv2d"), f.cnn2020(), module_types={"conv2d": "MyConv2d"})
    d = only(wrong)
    assert d.kind == "module_type"
    assert d.message == ("blocks 1, 2, 3, 4, 5, 6: 6 layers are computed by nn.Conv2d; the "
                         "handout requires the provided MyConv2d")
    assert sum(r["status"] == "mismatch" for r in wrong.table) == 6
    assert diff(f.cnn2020(), f.cnn2020(), module_types={"conv2d": "MyConv2d"}).ok
    assert diff(f.cnn2020(conv_type="Conv2d"), f.cnn2020()).ok  # no rule, no difference
    one = f.cnn2020(blocks={3: {"conv_type": "Conv2d"}})
    d = only(diff(one, f.cnn2020(), module_types={"conv2d": "MyConv2d"}))
    assert d.message == ("block 3: Conv2d is computed by nn.Conv2d (`rfconv.0`); the handout "
                         "requires the provided MyConv2d")


def test_a_different_model_gets_little_credit():
    comparison = diff(f.unet(), f.pool_upsample_net())
    assert comparison.fraction < 0.5
    assert len(comparison.differences) >= 4


# ------------------------------------------------------- real models through the real capture
torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional


@pytest.fixture(scope="module")
def captured():
    """Normalised sequence of a real module, captured by grader.graph.capture."""
    capture = pytest.importorskip("grader.graph.capture")
    torch.set_num_threads(1)

    def run(model: nn.Module, nic: int = 1):
        model.eval()
        with torch.no_grad():
            graph, _ = capture.capture_graph(model, torch.randn(2, nic, 32, 32))
        shapes = {n: list(p.shape) for n, p in model.named_parameters()}
        return normalise(graph, shapes)

    return run


def _reference(name: str, **kw):
    from reference.models import MODELS

    return MODELS[name](**kw)


class _PoolUpsampleFunctional(nn.Module):
    """A student's PoolUpsampleNet: attributes instead of Sequentials, functional ReLU and pool,
    in-place activations, `padding='same'`, and a contiguous() for good measure."""

    def __init__(self, k=3, nf=32, nc=24, nic=1, *, bn2=True, softmax=False, up_mode="nearest",
                 final=True):
        super().__init__()
        self.c1 = nn.Conv2d(nic, nf, k, padding="same")
        self.b1 = nn.BatchNorm2d(nf)
        self.c2 = nn.Conv2d(nf, 2 * nf, k, padding=k // 2)
        self.b2 = nn.BatchNorm2d(2 * nf) if bn2 else None
        self.c3 = nn.Conv2d(2 * nf, nf, k, padding=k // 2)
        self.b3 = nn.BatchNorm2d(nf)
        self.c4 = nn.Conv2d(nf, nc, k, padding=k // 2)
        self.b4 = nn.BatchNorm2d(nc)
        self.c5 = nn.Conv2d(nc, nc, k, padding=k // 2)
        self.softmax, self.up_mode, self.final = softmax, up_mode, final
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        x = F.relu(self.b1(F.max_pool2d(self.c1(x), 2)), inplace=True)
        x = F.max_pool2d(self.c2(x), 2)
        x = torch.relu(self.b2(x) if self.b2 is not None else x).contiguous()
        x = self.drop(x)  # a no-op in eval mode
        x = self.b3(F.interpolate(self.c3(x), scale_factor=2, mode=self.up_mode)).relu_()
        x = self.b4(F.interpolate(self.c4(x), scale_factor=2, mode=self.up_mode)).relu()
        out = self.c5(x)
        if not self.final:
            return x
        return torch.softmax(out, dim=1) if self.softmax else out


class _UNetStudent(nn.Module):
    def __init__(self, k=3, nf=32, nc=24, nic=1, *, skip="cat", order="skip_first"):
        super().__init__()
        self.reference = _reference("UNet", kernel=k, num_filters=nf, num_colours=nc,
                                    num_in_channels=nic)
        self.skip, self.order = skip, order
        if skip != "cat":
            self.reference.upconv2[0] = nn.ConvTranspose2d(nf, nc, k, stride=2, padding=1,
                                                           output_padding=1)

    def forward(self, x):
        r = self.reference
        x1 = r.conv1(x)
        x2 = r.conv2(x1)
        x3 = r.upconv1(x2)
        if self.skip == "add":
            joined = x1 + x3
        elif self.skip == "none":
            joined = x3
        else:
            joined = torch.cat([x3, x1] if self.order == "decoder_first" else [x1, x3], dim=1)
        x4 = r.upconv2(joined)
        pair = [x4, x] if self.order == "decoder_first" else [x, x4]
        return r.finalconv(torch.cat(pair, dim=1))


@pytest.mark.parametrize("name", ["PoolUpsampleNet", "ConvTransposeNet", "UNet", "CNN",
                                  "UNet2020"])
def test_real_reference_models_match_themselves_and_the_factory(captured, name):
    real = captured(_reference(name))
    assert compare(real, captured(_reference(name))).ok
    built = REFERENCES[name]()
    assert [x.describe(real) for x in real.layers] == \
        [x.describe(seq(built)) for x in seq(built).layers]


def test_real_student_written_differently_passes(captured):
    assert compare(captured(_PoolUpsampleFunctional()),
                   captured(_reference("PoolUpsampleNet"))).ok


def test_real_student_mistakes_are_named(captured):
    reference = captured(_reference("PoolUpsampleNet"))
    assert messages(compare(captured(_PoolUpsampleFunctional(bn2=False)), reference)) == [
        "block 2: expected BatchNorm2d(64) after MaxPool2d, found none"]
    (softmax,) = messages(compare(captured(_PoolUpsampleFunctional(softmax=True)), reference))
    assert softmax.startswith("extra Softmax(dim=1) after the final convolution")
    assert messages(compare(captured(_PoolUpsampleFunctional(up_mode="bilinear")),
                            reference))[0] == ("block 3: Upsample mode 'bilinear', expected "
                                               "mode 'nearest'")
    unused = compare(captured(_PoolUpsampleFunctional(final=False)), reference)
    assert messages(unused)[0].startswith("the final block 5 is missing")


def test_real_unet_variants(captured):
    reference = captured(_reference("UNet"))
    assert compare(captured(_UNetStudent(order="decoder_first")), reference).ok
    added = messages(compare(captured(_UNetStudent(skip="add")), reference))
    assert added[0].startswith("block 4: the skip connection from block 1 is added")
    dropped = messages(compare(captured(_UNetStudent(skip="none")), reference))
    assert dropped[0].startswith("block 4: the skip connection from block 1 is missing")


def test_real_2020_cnn_with_nn_conv2d_breaks_the_module_rule(captured):
    from reference.models import CNN

    student = CNN()
    for block in (student.downconv1, student.downconv2, student.rfconv, student.upconv1,
                  student.upconv2):
        mine = block[0]
        block[0] = nn.Conv2d(mine.in_channels, mine.out_channels, mine.kernel_size,
                             padding=mine.padding)
    rule = {"conv2d": "MyConv2d"}
    comparison = compare(captured(student), captured(CNN()), module_types=rule)
    (d,) = comparison.differences
    assert d.kind == "module_type" and "nn.Conv2d" in d.message and d.location.startswith(
        "blocks 1, 2, 3, 4, 5")
    assert compare(captured(CNN()), captured(CNN()), module_types=rule).ok
