"""Data: seedable toys (``toys``), scikit-learn's digits and coloured digits (``images``), a user's files (``files``),
local data sets (``datasets``), and the sources a config's data specs name (``sources``: ``make_source``)."""

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
from .sources import SOURCE_KINDS, DataInfo, FiniteSource, Source, as_source, data_info, make_source, spec_info
from .toys import TOYS, sample_toy

__all__ = [
    "IMAGE_SUFFIXES",
    "SOURCE_KINDS",
    "TOYS",
    "ColouredDigits",
    "DataInfo",
    "Digits",
    "FiniteSource",
    "Source",
    "as_source",
    "colourise",
    "data_info",
    "digits_split",
    "grey",
    "hue_to_rgb",
    "image_hues",
    "load_coloured_digits",
    "load_digits",
    "load_image_folder",
    "load_point_cloud",
    "make_source",
    "parse_point_cloud",
    "sample_toy",
    "select_classes",
    "shift_images",
    "spec_info",
]
