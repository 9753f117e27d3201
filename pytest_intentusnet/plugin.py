"""pytest entry point (pytest11: intentusnet). Hooks are thin; see session.py."""
