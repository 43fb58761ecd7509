"""The Muskie model: configuration, backbone, pre-training head, weights and compute cost."""

from muskie.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "muskie.model.backbone": ("BackboneOutput", "MuskieBackbone", "SourceAttention"),
        "muskie.model.compiling": ("compile_blocks",),
        "muskie.model.config": ("PRESETS", "MuskieConfig", "preset_config"),
        "muskie.model.flops": ("forward_flops", "flops_per_view"),
        "muskie.model.muskie": ("Muskie", "MuskieOutput", "create_model", "parameter_counts"),
        "muskie.model.patches": ("patchify", "unpatchify"),
    },
)

__all__ = [
    "PRESETS",
    "BackboneOutput",
    "Muskie",
    "MuskieBackbone",
    "MuskieConfig",
    "MuskieOutput",
    "SourceAttention",
    "compile_blocks",
    "create_model",
    "flops_per_view",
    "forward_flops",
    "parameter_counts",
    "patchify",
    "preset_config",
    "unpatchify",
]
