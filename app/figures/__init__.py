"""Pure figure builders (arrays in, Plotly figures out): ``common`` (template, colours, box, overlays), ``exact`` (the
exact field's pictures), ``learned`` (learned fields, images, training curves), ``story`` (the L story); the plot
config they are shown with is ``app.ui.chart``'s."""
