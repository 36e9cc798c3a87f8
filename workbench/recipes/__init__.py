"""Recipes that build the zoo's models (see :mod:`workbench.zoo`): each fetches its data, fine-tunes
with the Trainer and evaluates on held-out data. They sit above ``training/``; nothing below imports them.
"""
