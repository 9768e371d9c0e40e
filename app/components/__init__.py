"""Page pieces: Streamlit widgets and panels that more than a few lines of a page need, each beside the cached calls
it draws (``app/components/X.py`` beside ``app/compute/X.py``): ``exact`` (the scene sidebar, the charge editor, the
probe, the start picker, Theorem 3.1's plate decision, the landing check), ``dimensions`` (High dimensions'
memorisation check), ``learned`` (Translation's input gallery and scores, Generation's nearest training images),
``loading`` (the model picker and upload box), ``large_l`` (the L sweep), ``lab`` (the Training lab's controls and
live panel)."""
