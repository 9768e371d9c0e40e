"""Field Matching Lab core: Electrostatic Field Matching (Kolesov et al., ICML 2025) and Interaction Field Matching
(Manukhov et al., ICLR 2026) in PyTorch."""

from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .classifier import classifier_outputs, load_classifier
from .config import ExperimentConfig
from .data import (
    TOYS,
    ColouredDigits,
    Digits,
    colourise,
    digits_split,
    grey,
    image_hues,
    load_coloured_digits,
    load_digits,
    load_image_folder,
    load_point_cloud,
    make_source,
    parse_point_cloud,
    sample_toy,
    select_classes,
    shift_images,
)
from .field import FieldEvaluator, FieldResult, PlateField, exact_field, log_sphere_area, plate_field_at, potential
from .fields import learned_field, space_field
from .interaction import IFMObjective, IFMOptions, InteractionField, interaction_field
from .interaction_lines import trace_interaction_lines
from .lines import CASES, LineTrace, trace_lines, trace_robust
from .metrics import (
    Floor,
    Spread,
    bootstrap,
    digits_report,
    energy_distance,
    frechet_distance,
    knn_precision_recall,
    memorised_share,
    nearest_distances,
    nearest_neighbours,
    pointcloud_report,
    translation_report,
    two_sample_floor,
    w2_exact,
)
from .nets import FieldMLP, FieldSpaceMLP, FieldUNet, build_net
from .paths import Trajectory, TransportResult
from .plates import Plates, lift, make_plates, systematic_indices
from .presets import PRESETS, get_preset
from .sampler import SamplerConfig, field_target, sample_points
from .sampling import evaluate, generate, translate
from .theorem import forward_share, transport_exact, transport_trace, transport_two_sided
from .train import Trainer

__all__ = [
    "PRESETS",
    "CheckpointError",
    "ExperimentConfig",
    "FieldMLP",
    "FieldSpaceMLP",
    "FieldUNet",
    "IFMObjective",
    "IFMOptions",
    "InteractionField",
    "SamplerConfig",
    "Trainer",
    "Trajectory",
    "TransportResult",
    "build_net",
    "evaluate",
    "field_target",
    "generate",
    "get_preset",
    "interaction_field",
    "learned_field",
    "load_checkpoint",
    "make_source",
    "sample_points",
    "save_checkpoint",
    "translate",
    "forward_share",
    "space_field",
    "transport_two_sided",
    "trace_interaction_lines",
    "CASES",
    "TOYS",
    "ColouredDigits",
    "Digits",
    "FieldEvaluator",
    "FieldResult",
    "Floor",
    "Spread",
    "bootstrap",
    "LineTrace",
    "PlateField",
    "Plates",
    "classifier_outputs",
    "colourise",
    "digits_report",
    "digits_split",
    "energy_distance",
    "exact_field",
    "frechet_distance",
    "grey",
    "image_hues",
    "knn_precision_recall",
    "lift",
    "load_classifier",
    "load_coloured_digits",
    "load_digits",
    "load_image_folder",
    "load_point_cloud",
    "log_sphere_area",
    "make_plates",
    "memorised_share",
    "nearest_distances",
    "nearest_neighbours",
    "parse_point_cloud",
    "systematic_indices",
    "plate_field_at",
    "pointcloud_report",
    "potential",
    "sample_toy",
    "select_classes",
    "shift_images",
    "trace_lines",
    "trace_robust",
    "translation_report",
    "transport_exact",
    "transport_trace",
    "two_sample_floor",
    "w2_exact",
]
