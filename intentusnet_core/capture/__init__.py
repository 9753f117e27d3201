"""Zero-code capture of model-provider HTTP traffic (OpenAI, Anthropic and compatible
servers) as steps of an execution record: server-sent events, provider summaries, prices."""

__all__ = []
