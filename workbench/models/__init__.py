"""Model families. Each module defines ``MODEL_TYPES``: model_type -> (config class, {Auto name: class}).

Modules are imported only when a config of theirs is loaded (see ``workbench.auto``).
"""

# model_type -> module under workbench.models
FAMILY_MODULES = {
    "bart": "bart",
    "marian": "bart",
    "mbart": "bart",
    "pegasus": "bart",
    "bert": "bert",
    "distilbert": "distilbert",
    "gpt2": "gpt2",
    "llama": "llama",
    "mistral": "llama",
    "mt5": "t5",
    "opt": "opt",
    "qwen2": "llama",
    "roberta": "roberta",
    "t5": "t5",
    "umt5": "t5",
    "whisper": "whisper",
    "xlm-roberta": "roberta",
}
