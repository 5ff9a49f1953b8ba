"""GANlift's editing app: a Gradio Blocks UI over the engine, with per-session state.

`app.ui.build_app(context)` makes the Blocks; the handlers it wires are plain functions in
`app.reconstruct`, `app.viewer` and `app.model_tab` that take a `Session` first, so tests call
them without a browser. The app calls the engine only.
"""
