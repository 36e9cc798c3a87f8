"""Training: TrainingArguments, Trainer, data collators and callbacks (accelerate is used only here).

>>> from workbench import Trainer, TrainingArguments                 # doctest: +SKIP
>>> trainer = Trainer(model=model, args=TrainingArguments("out"), train_dataset=train)   # doctest: +SKIP
>>> trainer.train()                                                   # doctest: +SKIP
"""

from .argparser import HfArg, HfArgumentParser
from .arguments import HubStrategy, IntervalStrategy, SaveStrategy, Seq2SeqTrainingArguments, TrainingArguments
from .callbacks import (CallbackHandler, DefaultFlowCallback, EarlyStoppingCallback, ExportableState,
                        PrinterCallback, ProgressCallback, TrainerCallback, TrainerControl, TrainerState)
from .checkpoints import get_last_checkpoint
from .collators import (DataCollatorForLanguageModeling, DataCollatorForSeq2Seq, DataCollatorForTokenClassification,
                        DataCollatorWithPadding, DefaultDataCollator, default_data_collator)
from .integrations import TensorBoardCallback
from .schedules import (SchedulerType, get_constant_schedule, get_constant_schedule_with_warmup,
                        get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup, get_scheduler)
from .seq2seq import Seq2SeqTrainer
from .trainer import Trainer
from .utils import EvalPrediction, PredictionOutput, TrainOutput, set_seed

# The "Distributed training with Accelerate" tutorial imports AdamW from the library; it is PyTorch's.
from torch.optim import AdamW  # noqa: E402

__all__ = [
    "AdamW", "CallbackHandler", "DataCollatorForLanguageModeling", "DataCollatorForSeq2Seq", "DataCollatorForTokenClassification",
    "DataCollatorWithPadding", "DefaultDataCollator", "DefaultFlowCallback", "EarlyStoppingCallback", "EvalPrediction",
    "ExportableState", "HfArg", "HfArgumentParser", "HubStrategy", "IntervalStrategy", "PredictionOutput", "PrinterCallback",
    "ProgressCallback", "SaveStrategy", "SchedulerType", "Seq2SeqTrainer", "Seq2SeqTrainingArguments",
    "TensorBoardCallback", "TrainOutput", "Trainer", "TrainerCallback", "TrainerControl", "TrainerState",
    "TrainingArguments", "default_data_collator", "get_constant_schedule", "get_constant_schedule_with_warmup",
    "get_cosine_schedule_with_warmup", "get_last_checkpoint", "get_linear_schedule_with_warmup", "get_scheduler",
    "set_seed",
]
