"""REST endpoints of the workbench lab panel, under the server's token and XSRF rules.

    GET    /workbench/api/models                        cached models and the zoo
    DELETE /workbench/api/models?repo=ID[&revision=R]   one revision, or the whole repo
    GET    /workbench/api/tutorials                     tutorial notebooks
    POST   /workbench/api/tutorials?name=NAME.ipynb     copy a shipped tutorial into the root folder

Errors are JSON ``{"message": ...}`` with a 4xx status. The work runs in a thread (a cache
scan reads every snapshot), so the server keeps answering meanwhile.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.ioloop import IOLoop

from .cache import CacheError, delete_model, list_models
from .tutorials import copy_tutorial, list_tutorials


class _Handler(APIHandler):
    # deleting cached files is a write on files the server manages, as with the contents API
    auth_resource = "contents"

    async def _answer(self, work: Callable[[], Any]) -> None:
        try:
            result = await IOLoop.current().run_in_executor(None, work)
        except CacheError as error:
            self.set_status(error.status)
            self.finish(json.dumps({"message": error.message}))
            return
        self.finish(json.dumps(result))

    @property
    def root_dir(self) -> str:
        return getattr(self.contents_manager, "root_dir", None) or self.settings.get("server_root_dir", ".")


class ModelsHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self._answer(list_models)

    @web.authenticated
    @authorized
    async def delete(self) -> None:
        repo = self.get_query_argument("repo", None)
        revision = self.get_query_argument("revision", None)
        self.log.info("workbench: deleting %s%s from the Hugging Face cache", repo, f"@{revision}" if revision else "")
        await self._answer(lambda: delete_model(repo, revision))


class TutorialsHandler(_Handler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        root = self.root_dir
        await self._answer(lambda: {"root_dir": root, "tutorials": list_tutorials(root)})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        root, name = self.root_dir, self.get_query_argument("name", None)
        await self._answer(lambda: copy_tutorial(root, name))


def setup_handlers(web_app) -> None:
    base = url_path_join(web_app.settings["base_url"], "workbench", "api")
    web_app.add_handlers(".*$", [
        (url_path_join(base, "models"), ModelsHandler),
        (url_path_join(base, "tutorials"), TutorialsHandler),
    ])
