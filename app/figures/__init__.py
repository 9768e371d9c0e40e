"""Pure figure builders (arrays in, Plotly figures out): ``common`` (template, colours, box, overlays, the plot
config), ``exact`` (the exact field's pictures), ``learned`` (learned fields, images, training curves)."""
