"""Field Matching Lab core: Electrostatic Field Matching (Kolesov et al., ICML 2025) in PyTorch."""

from .field import FieldResult, PlateField, exact_field, log_sphere_area, plate_field_at, potential
from .data import TOYS, sample_toy
from .plates import Plates, lift, make_plates

__all__ = [
    "TOYS",
    "FieldResult",
    "PlateField",
    "Plates",
    "exact_field",
    "lift",
    "log_sphere_area",
    "make_plates",
    "plate_field_at",
    "potential",
    "sample_toy",
]
