"""GANlift's editing app: a Gradio Blocks UI over the engine, with per-session state.

`app.ui.build_app(context)` makes the Blocks; the handlers it wires are plain functions in
`app.reconstruct`, `app.cars`, `app.viewer_tab`, `app.model_tab` and `app.view_labels` that
take a `Session` first, so tests call them without a browser. The app calls the engine only.
Importing `app` sets the two switches below and takes a GRADIO_SERVER_PORT that is no number
out of the environment, so anything importing gradio must import `app` first (as `launch.py`
does): gradio reads them as it loads.
"""

import os

# GANlift runs offline and phones no one, unless the user sets these otherwise: Gradio's
# analytics and version check (threads that reach api.gradio.app and huggingface.co) stay off,
# and so does the Hugging Face Hub, which gradio_client asks for a registry on every connect.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SERVER_PORT_VARIABLE = "GRADIO_SERVER_PORT"
SERVER_PORT_SETTING = os.environ.get(SERVER_PORT_VARIABLE)
"""GRADIO_SERVER_PORT as the environment set it. `launch.py` listens on it where --port is not
given, and refuses a bad one in a sentence; gradio turns it into an int as it loads, so a value
that is no number (which stopped the app with a traceback) is taken out of the environment."""
if SERVER_PORT_SETTING is not None and not SERVER_PORT_SETTING.strip().isdecimal():
    del os.environ[SERVER_PORT_VARIABLE]
