"""Cached calls into efm_core for the pages: exact-field work (``exact``, ``dimensions``), learned fields
(``learned``), the Training lab's live run (``lab``) and model loading (``loading``)."""
