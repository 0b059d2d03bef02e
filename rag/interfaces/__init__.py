"""The ways in besides the Python API: the command line, the web UI and its views, access control, corpus management and the doctor."""
