"""How the layers of this assignment are called, so that spelling a call differently is not
mistaken for writing different code.

`nn.Conv2d(nf, 2 * nf, kernel, padding=pad)`, `nn.Conv2d(in_channels=nf, out_channels=2 * nf,
kernel_size=kernel, padding=pad)` and the same with `stride=1` added build the same layer;
students pick one of these spellings by habit, so two independent solutions differ in it as
often as not, and a copier can switch it in a minute. Every call below is rewritten with
keyword arguments only, arguments equal to their default dropped. The parameter names and
defaults are torch's own (torch 2.x); only the calls the handouts' architectures use are listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Signature:
    """A callable's positional parameter names, and its defaults as `ast.unparse` spells them."""

    params: tuple[str, ...]
    defaults: dict[str, str] = field(default_factory=dict)
    same_as: dict[str, str] = field(default_factory=dict)   # param -> the param it defaults to


_CONV = {"stride": "1", "padding": "0", "dilation": "1", "groups": "1", "bias": "True",
         "padding_mode": "'zeros'"}
_POOL = {"padding": "0", "dilation": "1", "return_indices": "False", "ceil_mode": "False"}

SIGNATURES: dict[str, Signature] = {
    "torch.nn.Conv2d": Signature(("in_channels", "out_channels", "kernel_size", "stride",
                                  "padding", "dilation", "groups", "bias", "padding_mode"),
                                 _CONV),
    "torch.nn.ConvTranspose2d": Signature(
        ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding",
         "groups", "bias", "dilation", "padding_mode"), {**_CONV, "output_padding": "0"}),
    "torch.nn.BatchNorm2d": Signature(
        ("num_features", "eps", "momentum", "affine", "track_running_stats"),
        {"eps": "1e-05", "momentum": "0.1", "affine": "True", "track_running_stats": "True"}),
    "torch.nn.MaxPool2d": Signature(
        ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"), _POOL,
        {"stride": "kernel_size"}),
    "torch.nn.AvgPool2d": Signature(("kernel_size", "stride", "padding", "ceil_mode"),
                                    {"padding": "0", "ceil_mode": "False"},
                                    {"stride": "kernel_size"}),
    "torch.nn.Upsample": Signature(("size", "scale_factor", "mode", "align_corners"),
                                   {"mode": "'nearest'", "size": "None"}),
    "torch.nn.UpsamplingNearest2d": Signature(("size", "scale_factor"), {"size": "None"}),
    "torch.nn.ReLU": Signature(("inplace",), {"inplace": "False"}),
    "torch.nn.LeakyReLU": Signature(("negative_slope", "inplace"),
                                    {"negative_slope": "0.01", "inplace": "False"}),
    "torch.nn.Dropout": Signature(("p", "inplace"), {"p": "0.5", "inplace": "False"}),
    "torch.nn.Dropout2d": Signature(("p", "inplace"), {"p": "0.5", "inplace": "False"}),
    "torch.nn.functional.relu": Signature(("input", "inplace"), {"inplace": "False"}),
    "torch.relu": Signature(("input",)),
    "torch.nn.functional.interpolate": Signature(
        ("input", "size", "scale_factor", "mode", "align_corners"),
        {"mode": "'nearest'", "size": "None"}),
    "torch.nn.functional.max_pool2d": Signature(
        ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
        _POOL, {"stride": "kernel_size"}),
    "torch.cat": Signature(("tensors", "dim"), {"dim": "0"}),
}
