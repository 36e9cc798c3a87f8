"""Recipes that build the zoo's models (see :mod:`workbench.zoo`): each fetches its data, fine-tunes
with the Trainer and evaluates on held-out data. They sit above ``training/``; nothing below imports them.
``mobilenet_v2_torchvision`` is a porting recipe instead: it converts torchvision's ImageNet MobileNetV2
into a Hugging Face folder with :mod:`workbench.porting`. ``smollm2_lora`` trains a LoRA adapter on
SmolLM2 (an adapter folder, not a zoo model).
"""
