"""Tests of zero-code capture of OpenAI and Anthropic SDK traffic, against a local fake
provider (``fake_provider.py``) that speaks both APIs on 127.0.0.1."""
