"""The Trainer and the Hub: the repo made at init, pushes at each save (``args.hub_strategy``), the
model card, and ``push_to_hub`` at the end.

With ``push_to_hub=True`` the repo ``hub_model_id`` (default: the output folder's name) is created
when the Trainer is built. Then, by ``hub_strategy``:

===================  ================================================================================
``end``              nothing during training; ``trainer.push_to_hub()`` uploads the final model
``every_save``       each checkpoint's model files ("Training in progress, step N")
``checkpoint``       as every_save, plus the whole checkpoint as ``last-checkpoint/`` ("..., checkpoint"):
                     ``train(resume_from_checkpoint=snapshot_download(...) + "/last-checkpoint")`` resumes
``all_checkpoints``  as every_save, plus each ``checkpoint-N/`` under its own name
===================  ================================================================================

Pushes during training run in the background, one at a time, on a single worker thread (training
does not wait for the network). What a push uploads is fixed when it starts: its files are hard links
(copies where links are not possible) of the checkpoint's, in a hidden staging folder, so later saves
and checkpoint rotation cannot change or delete them mid-upload. A save whose predecessor is still
uploading is not pushed, unless ``hub_always_push=True`` (then it queues behind). ``train()`` waits for
the queue at its end and raises a failed push's error there; ``push_to_hub()`` waits before it uploads.
"""

from __future__ import annotations

import logging
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..hub_push import explained_hub_errors, hub_client
from ..model_card_write import README_NAME, TrainingSummary, save_model_card
from . import checkpoints as ckpt
from .arguments import HubStrategy, SaveStrategy
from .utils import PREFIX_CHECKPOINT_DIR

logger = logging.getLogger("workbench")

STAGING_PREFIX = f"{ckpt.TEMP_PREFIX}hub-push-"
# in a checkpoint but not part of the model: they go up only inside a checkpoint folder
CHECKPOINT_ONLY = (ckpt.OPTIMIZER_NAME, ckpt.SCHEDULER_NAME, ckpt.TRAINER_STATE_NAME)
# never uploaded from output_dir: checkpoints (their strategy pushes them), temp files and staging folders
IGNORED = ["_*", f"{PREFIX_CHECKPOINT_DIR}-*", f"{ckpt.TEMP_PREFIX}*", ".*.tmp"]


def _is_model_file(name: str) -> bool:
    return name not in CHECKPOINT_ONLY and not name.startswith("rng_state")


def _link_tree(source: str, target: str, model_only: bool = False) -> None:
    """``target`` gets ``source``'s files as hard links (copies across file systems): checkpoint files
    are never rewritten in place, so a link keeps the file as it was even after rotation deletes it."""
    for root, _, files in os.walk(source):
        relative = os.path.relpath(root, source)
        for name in files:
            if model_only and not _is_model_file(name):
                continue
            destination = os.path.join(target, relative, name)
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            try:
                os.link(os.path.join(root, name), destination)
            except OSError:
                shutil.copy2(os.path.join(root, name), destination)


class HubMixin:
    """``init_hf_repo``, ``create_model_card``, ``push_to_hub`` and the pushes at each save of
    :class:`~workbench.Trainer` (see the module docstring for the strategies)."""

    hub_model_id: str | None = None

    def _init_output(self) -> None:
        """Make output_dir (clearing staging folders a killed run left) and, with push_to_hub, the Hub repo."""
        self.hub_model_id, self._push_executor, self._pushes = None, None, []
        if self.args.should_save:
            os.makedirs(self.args.output_dir, exist_ok=True)
            for name in os.listdir(self.args.output_dir):
                if name.startswith(STAGING_PREFIX):
                    shutil.rmtree(os.path.join(self.args.output_dir, name), ignore_errors=True)
        if self.args.push_to_hub:
            self.init_hf_repo()

    def _hub_api(self, token: str | None = None):
        """An ``HfApi`` with ``token`` (default ``args.hub_token``, then huggingface_hub's own); offline mode or
        no token at all raise ``HubPushError`` saying what to set (``hub_push.py``, shared with ``push_to_hub``)."""
        return hub_client(token if token is not None else self.args.hub_token)

    def init_hf_repo(self, token: str | None = None, private: bool | None = None) -> None:
        """Create (or find) the repo ``args.hub_model_id`` (default: output_dir's name) and remember its
        full id (``user/name``) in ``self.hub_model_id``. ``private`` (default ``args.hub_private_repo``)
        applies only when the repo is new."""
        if not self.is_world_process_zero():
            return
        name = self.args.hub_model_id or Path(self.args.output_dir).absolute().name
        private = private if private is not None else self.args.hub_private_repo
        token = token if token is not None else self.args.hub_token
        with explained_hub_errors(name):
            self.hub_model_id = self._hub_api(token).create_repo(name, private=private, exist_ok=True).repo_id

    def create_model_card(self, language: str | None = None, license: str | None = None,
                          tags: str | list[str] | None = None, model_name: str | None = None,
                          finetuned_from: str | None = None, tasks: str | list[str] | None = None,
                          dataset_tags: str | list[str] | None = None, dataset: str | list[str] | None = None,
                          dataset_args: str | list[str] | None = None) -> None:
        """Draft ``output_dir/README.md`` from the run: metadata (base model, license, tasks, datasets,
        metrics, model-index results), hyperparameters, the results table and framework versions.
        Tags of a README already there are kept. Written in one rename."""
        if not self.is_world_process_zero():
            return
        path = os.path.join(self.args.output_dir, README_NAME)
        if os.path.isfile(path):
            from huggingface_hub import ModelCard

            existing = ModelCard.load(path, ignore_metadata_errors=True).data.tags or []
            tags = [tags] if isinstance(tags, str) else list(tags or [])
            tags += [tag for tag in existing if tag not in tags]
        summary = TrainingSummary.from_trainer(self, language=language, license=license, tags=tags,
                                               model_name=model_name, finetuned_from=finetuned_from, tasks=tasks,
                                               dataset_tags=dataset_tags, dataset=dataset, dataset_args=dataset_args)
        save_model_card(summary.to_model_card(), self.args.output_dir)

    def push_to_hub(self, commit_message: str | None = "End of training", blocking: bool = True,
                    token: str | None = None, revision: str | None = None, **kwargs: Any):
        """Save the model to output_dir, draft its model card and upload the folder (checkpoint folders
        left out) to ``self.hub_model_id``, creating the repo if needed.

        ``revision`` (default ``args.hub_revision``) is the branch; ``create_pr=True`` opens a pull request
        instead of committing to it; ``private`` applies when the repo is new; other keyword arguments go to
        :meth:`create_model_card`. Returns the ``CommitInfo``, or with ``blocking=False`` a ``Future`` of it
        (queued behind pushes still running, and waited for by the next push or the end of ``train()``).
        """
        self.control = self.callback_handler.on_push_begin(self.args, self.state, self.control)
        create_pr, private = kwargs.pop("create_pr", False), kwargs.pop("private", None)
        model_name = kwargs.pop("model_name", None)
        if model_name is None:
            model_name = (self.args.hub_model_id.split("/")[-1] if self.args.hub_model_id
                          else Path(self.args.output_dir).absolute().name)
        token = token if token is not None else self.args.hub_token
        if self.hub_model_id is None:
            self.init_hf_repo(token=token, private=private)
        self.save_model(_internal_call=True)
        if not self.is_world_process_zero():
            return None
        model_tags = getattr(self.accelerator.unwrap_model(self.model), "model_tags", None)
        if model_tags:
            given = kwargs.get("tags")
            tags = [given] if isinstance(given, str) else list(given or [])
            kwargs["tags"] = tags + [tag for tag in model_tags if tag not in tags]
        self.create_model_card(model_name=model_name, **kwargs)
        self._finish_current_push()
        revision = revision if revision is not None else self.args.hub_revision

        def upload():
            with explained_hub_errors(self.hub_model_id):
                return self._hub_api(token).upload_folder(
                    repo_id=self.hub_model_id, folder_path=self.args.output_dir, commit_message=commit_message,
                    revision=revision, create_pr=create_pr, ignore_patterns=IGNORED)

        if blocking:
            return upload()
        return self._submit_push(upload)

    def _submit_push(self, job) -> Future:
        if self._push_executor is None:  # one worker: pushes never overlap, and run in the order asked
            self._push_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="workbench-hub-push")
        future = self._push_executor.submit(job)
        self._pushes.append(future)
        return future

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        """Push a just-published checkpoint as ``args.hub_strategy`` says (in the background)."""
        args = self.args
        if not self.is_world_process_zero() or args.hub_strategy == HubStrategy.END or self.hub_model_id is None:
            return
        if not args.hub_always_push and any(not future.done() for future in self._pushes):
            logger.info(f"Not pushing {checkpoint_folder}: the previous push is still uploading "
                        "(hub_always_push=True queues every save).")
            return
        self.control = self.callback_handler.on_push_begin(args, self.state, self.control)
        if args.save_strategy == SaveStrategy.STEPS:
            message = f"Training in progress, step {self.state.global_step}"
        else:
            message = f"Training in progress, epoch {int(self.state.epoch)}"
        staging = os.path.join(args.output_dir, f"{STAGING_PREFIX}{self.state.global_step}")
        shutil.rmtree(staging, ignore_errors=True)
        _link_tree(checkpoint_folder, os.path.join(staging, "model"), model_only=True)
        in_repo = None
        if args.hub_strategy in (HubStrategy.CHECKPOINT, HubStrategy.ALL_CHECKPOINTS):
            in_repo = "last-checkpoint" if args.hub_strategy == HubStrategy.CHECKPOINT else Path(checkpoint_folder).name
            _link_tree(checkpoint_folder, os.path.join(staging, "checkpoint"))
        self._submit_push(lambda: self._upload_staged(staging, message, in_repo))

    def _upload_staged(self, staging: str, message: str, checkpoint_in_repo: str | None) -> list:
        """The model files as one commit, then the checkpoint folder as a second (as the reference does)."""
        api, args = self._hub_api(), self.args
        try:
            with explained_hub_errors(self.hub_model_id):
                commits = [api.upload_folder(repo_id=self.hub_model_id, folder_path=os.path.join(staging, "model"),
                                             commit_message=message, revision=args.hub_revision)]
                if checkpoint_in_repo is not None:
                    commits.append(api.upload_folder(
                        repo_id=self.hub_model_id, folder_path=os.path.join(staging, "checkpoint"),
                        path_in_repo=checkpoint_in_repo, commit_message=f"{message}, checkpoint",
                        revision=args.hub_revision))
            return commits
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _finish_current_push(self) -> None:
        """Wait for the pushes still queued or uploading; the first one that failed raises its error here."""
        pushes, self._pushes = list(getattr(self, "_pushes", [])), []
        if any(not future.done() for future in pushes):
            logger.info("Waiting for the pushes to the Hub to finish.")
        for future in pushes:
            future.result()
