"""Block Kit checks the fake Slack applies, with Slack's limits and error-message style.

Limits (fixtures README): 50 blocks per message, 100 in modals and App Home, button text <= 75,
button value <= 2000, action_id / block_id <= 255, section text <= 3000. Plus: text objects are
not empty, image blocks need a publicly reachable `image_url` or a known `slack_file`.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable
from typing import Any

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100

FileCheck = Callable[[dict[str, Any]], bool]  # is this `slack_file` reference a known file?


class _Checker:
    def __init__(self, is_known_file: FileCheck, private_url_marker: str) -> None:
        self.errors: list[str] = []
        self.is_known_file = is_known_file
        self.private_url_marker = private_url_marker

    def fail(self, message: str, pointer: str) -> None:
        self.errors.append(f"[ERROR] {message} [json-pointer:{pointer}]")

    def max_len(self, value: Any, limit: int, pointer: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.fail(f"must be less than {limit + 1} characters", pointer)

    def text(self, obj: Any, pointer: str, *, limit: int, plain_only: bool = False) -> None:
        if not isinstance(obj, dict):
            self.fail("must provide an object", pointer)
            return
        kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if obj.get("type") not in kinds:
            self.fail(f"must be one of {', '.join(kinds)}", f"{pointer}/type")
        text = obj.get("text")
        if not isinstance(text, str) or not text:
            self.fail("must be more than 0 characters", f"{pointer}/text")
        else:
            self.max_len(text, limit, f"{pointer}/text")

    def image_source(self, obj: dict[str, Any], pointer: str) -> None:
        url, slack_file = obj.get("image_url"), obj.get("slack_file")
        if (url is None) == (slack_file is None):
            self.fail("must provide exactly one of image_url, slack_file", pointer)
        elif isinstance(url, str):
            self.max_len(url, 3000, f"{pointer}/image_url")
            if not url.startswith(("http://", "https://")) or self.private_url_marker in url:
                self.fail("downloading image failed", f"{pointer}/image_url")
        elif not isinstance(slack_file, dict) or not self.is_known_file(slack_file):
            self.fail("invalid slack file", f"{pointer}/slack_file")
        alt = obj.get("alt_text")
        if not isinstance(alt, str) or not alt:
            self.fail("must provide a string", f"{pointer}/alt_text")
        else:
            self.max_len(alt, 2000, f"{pointer}/alt_text")

    def element(self, el: Any, pointer: str, action_ids: set[str]) -> None:
        if not isinstance(el, dict) or not isinstance(el.get("type"), str):
            self.fail("must provide an object with a type", pointer)
            return
        action_id = el.get("action_id")
        if action_id is not None:
            self.max_len(action_id, 255, f"{pointer}/action_id")
            if action_id in action_ids:
                self.fail("action_id already exists", f"{pointer}/action_id")
            action_ids.add(action_id)
        kind = el["type"]
        if kind == "button":
            self.text(el.get("text"), f"{pointer}/text", limit=75, plain_only=True)
            self.max_len(el.get("value"), 2000, f"{pointer}/value")
            self.max_len(el.get("url"), 3000, f"{pointer}/url")
            if el.get("style") not in (None, "primary", "danger"):
                self.fail("must be one of primary, danger", f"{pointer}/style")
        elif kind == "image":
            self.image_source(el, pointer)
        elif kind in ("static_select", "overflow", "radio_buttons", "checkboxes", "multi_static_select"):
            options = el.get("options", [])
            if not isinstance(options, list) or len(options) > 100:
                self.fail("must provide no more than 100 items", f"{pointer}/options")
                return
            for i, opt in enumerate(options):
                if not isinstance(opt, dict):
                    self.fail("must provide an object", f"{pointer}/options/{i}")
                    continue
                self.text(opt.get("text"), f"{pointer}/options/{i}/text", limit=75)
                self.max_len(opt.get("value"), 150, f"{pointer}/options/{i}/value")
        elif kind in ("plain_text", "mrkdwn"):
            self.text(el, pointer, limit=3000)

    def block(self, block: Any, pointer: str, block_ids: set[str], *, in_view: bool) -> None:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            self.fail("must provide an object with a type", pointer)
            return
        block_id = block.get("block_id")
        if block_id is not None:
            self.max_len(block_id, 255, f"{pointer}/block_id")
            if block_id in block_ids:
                self.fail("block_id already exists", f"{pointer}/block_id")
            block_ids.add(block_id)
        action_ids: set[str] = set()
        kind = block["type"]
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.fail("must provide text or fields", pointer)
            if "text" in block:
                self.text(block["text"], f"{pointer}/text", limit=3000)
            fields = block.get("fields", [])
            if len(fields) > 10:
                self.fail("must provide no more than 10 items", f"{pointer}/fields")
            for i, f in enumerate(fields):
                self.text(f, f"{pointer}/fields/{i}", limit=2000)
            if "accessory" in block:
                self.element(block["accessory"], f"{pointer}/accessory", action_ids)
        elif kind == "header":
            self.text(block.get("text"), f"{pointer}/text", limit=150, plain_only=True)
        elif kind == "image":
            self.image_source(block, pointer)
            if "title" in block:
                self.text(block["title"], f"{pointer}/title", limit=2000, plain_only=True)
        elif kind in ("actions", "context"):
            elements = block.get("elements")
            limit = 25 if kind == "actions" else 10
            if not isinstance(elements, list) or not elements or len(elements) > limit:
                self.fail(f"must provide between 1 and {limit} items", f"{pointer}/elements")
                return
            for i, el in enumerate(elements):
                self.element(el, f"{pointer}/elements/{i}", action_ids)
        elif kind == "input":
            if not in_view:
                self.fail("input blocks are only allowed in views", pointer)
            self.text(block.get("label"), f"{pointer}/label", limit=2000, plain_only=True)
            self.element(block.get("element"), f"{pointer}/element", action_ids)
        elif kind not in ("divider", "rich_text", "file", "video", "markdown"):
            self.fail(f"unknown block type {kind}", f"{pointer}/type")


def block_errors(
    blocks: Any,
    *,
    max_blocks: int,
    is_known_file: FileCheck,
    private_url_marker: str = "/files-pri/",
    pointer: str = "/blocks",
    in_view: bool = False,
) -> list[str]:
    """Slack-style error messages for a blocks array; empty when valid."""
    checker = _Checker(is_known_file, private_url_marker)
    if not isinstance(blocks, list):
        checker.fail("must provide an array", pointer)
        return checker.errors
    if len(blocks) > max_blocks:
        checker.fail(f"no more than {max_blocks} items allowed", pointer)
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        checker.block(block, f"{pointer}/{i}", block_ids, in_view=in_view)
    return checker.errors


def view_errors(view: Any, *, kind: str, is_known_file: FileCheck) -> list[str]:
    """Errors for a modal (`kind="modal"`) or App Home (`kind="home"`) view."""
    checker = _Checker(is_known_file, "/files-pri/")
    if not isinstance(view, dict):
        checker.fail("must provide an object", "/view")
        return checker.errors
    if view.get("type") != kind:
        checker.fail(f"must be {kind}", "/view/type")
    if kind == "modal":
        checker.text(view.get("title"), "/view/title", limit=24, plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                checker.text(view[key], f"/view/{key}", limit=24, plain_only=True)
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
        if has_input and "submit" not in view:
            checker.fail("must provide submit when using input blocks", "/view/submit")
    checker.max_len(view.get("callback_id"), 255, "/view/callback_id")
    checker.max_len(view.get("private_metadata"), 3000, "/view/private_metadata")
    checker.max_len(view.get("external_id"), 255, "/view/external_id")
    errors = checker.errors
    errors += block_errors(
        view.get("blocks"),
        max_blocks=VIEW_MAX_BLOCKS,
        is_known_file=is_known_file,
        pointer="/view/blocks",
        in_view=True,
    )
    return errors


def assign_block_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Slack gives every stored block without a `block_id` a random one; so does the fake."""
    stored = copy.deepcopy(blocks)
    for block in stored:
        block.setdefault("block_id", secrets.token_urlsafe(4))
    return stored
