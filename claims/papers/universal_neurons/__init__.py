"""Gurnee et al. (2024), Universal Neurons in GPT2 Language Models (arXiv:2401.12181): the claims as tests."""
