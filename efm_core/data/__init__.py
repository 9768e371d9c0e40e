"""Data: seedable toys (``toys``), scikit-learn's digits and coloured digits (``images``), a user's files (``files``)."""

from .files import IMAGE_SUFFIXES, load_image_folder, load_point_cloud, parse_point_cloud
from .images import (
    ColouredDigits,
    Digits,
    colourise,
    digits_split,
    grey,
    hue_to_rgb,
    image_hues,
    load_coloured_digits,
    load_digits,
    select_classes,
    shift_images,
)
from .toys import TOYS, sample_toy

__all__ = [
    "IMAGE_SUFFIXES",
    "TOYS",
    "ColouredDigits",
    "Digits",
    "colourise",
    "digits_split",
    "grey",
    "hue_to_rgb",
    "image_hues",
    "load_coloured_digits",
    "load_digits",
    "load_image_folder",
    "load_point_cloud",
    "parse_point_cloud",
    "sample_toy",
    "select_classes",
    "shift_images",
]
