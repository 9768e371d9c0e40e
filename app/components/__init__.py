"""Page pieces: Streamlit widgets and panels that more than one line of a page needs, each beside the cached calls it
draws (``app/components/X.py`` beside ``app/compute/X.py``): ``exact`` (the scene sidebar, the charge editor, the
probe, the start picker), ``learned`` (Translation's input gallery and scores, Generation's nearest training images),
``loading`` (the model picker and upload box), ``large_l`` (the L sweep), ``lab`` (the Training lab's controls and
live panel)."""
