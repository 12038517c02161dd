"""adaptagent meta-training: episodes, meta-learning algorithms, ONNX export and publishing.

Run it with `python -m training <command>`; see docs/training.md.
"""
