"""A LoRA training run on a tiny llama in its own process, for the kill-and-resume test
(tests/test_trainer_adapters.py). Prints nothing; the final adapter lands in OUTPUT/final/."""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.training.lora import kill_resume_run  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--resume", action="store_true")
    options = parser.parse_args()
    kill_resume_run(options.base, options.output_dir, sleep=options.sleep, resume=options.resume)
