"""A training run driven from the command line, for tests that need fresh processes
(kill and resume, two-process data parallel). Prints nothing; the final weights land in
OUTPUT/final/model.safetensors."""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.training.tiny import tiny_dataset, tiny_model  # noqa: E402
from workbench import Trainer, TrainerCallback, TrainingArguments  # noqa: E402


class Slow(TrainerCallback):
    def __init__(self, seconds):
        self.seconds = seconds

    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(self.seconds)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--accumulation", type=int, default=1)
    parser.add_argument("--max_steps", type=int, default=12)
    parser.add_argument("--save_steps", type=int, default=1000)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--resume", action="store_true")
    options = parser.parse_args()
    model = tiny_model(hidden_dropout_prob=options.dropout, attention_probs_dropout_prob=options.dropout)
    args = TrainingArguments(output_dir=options.output_dir, per_device_train_batch_size=options.batch,
                             gradient_accumulation_steps=options.accumulation, max_steps=options.max_steps,
                             save_steps=options.save_steps, learning_rate=1e-3, weight_decay=0.01, warmup_steps=2,
                             logging_steps=3, disable_tqdm=True, use_cpu=True, seed=7, dataloader_drop_last=False)
    trainer = Trainer(model=model, args=args, train_dataset=tiny_dataset(48), callbacks=[Slow(options.sleep)])
    trainer.train(resume_from_checkpoint=True if options.resume else None)
    trainer.save_model(os.path.join(options.output_dir, "final"))
    # 10 rows do not split evenly over 2 processes: gathering must drop the repeated ones
    prediction = trainer.predict(tiny_dataset(10, seed=5))
    if trainer.is_world_process_zero():
        with open(os.path.join(options.output_dir, "final", "predict.json"), "w") as handle:
            json.dump({"metrics": prediction.metrics, "predictions": prediction.predictions.tolist(),
                       "label_ids": prediction.label_ids.tolist()}, handle)


if __name__ == "__main__":
    main()
