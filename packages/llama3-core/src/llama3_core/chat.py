"""Chat prompts: Meta's Llama 3 dialog format and Jinja2 chat templates.

Both formats keep message text ordinary: a user who types ``<|eot_id|>`` gets the
tokens of those characters, and only the format itself emits control tokens.
A template is rendered with each message's content replaced by a placeholder.
The placeholders are then encoded as ordinary text and the rest of the
rendered template with control tokens allowed.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from mltk_core.errors import UserInputError

from llama3_core.tokenizer import Tokenizer


@dataclass(frozen=True)
class Message:
    role: str  # "system", "user" or "assistant"
    content: str


class MetaChatFormat:
    """Llama 3's dialog format from Meta's reference code.

    ``<|begin_of_text|>`` once, then per message
    ``<|start_header_id|>role<|end_header_id|>\\n\\n content <|eot_id|>``, and an
    open assistant header for the reply.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer

    def encode_dialog(
        self, messages: list[Message], add_generation_prompt: bool = True
    ) -> list[int]:
        tokenizer = self.tokenizer
        ids = [tokenizer.special_id("<|begin_of_text|>")]
        for message in messages:
            ids.extend(self._header(message.role))
            ids.extend(tokenizer.encode(message.content.strip()))
            ids.append(tokenizer.special_id("<|eot_id|>"))
        if add_generation_prompt:
            ids.extend(self._header("assistant"))
        return ids

    def _header(self, role: str) -> list[int]:
        tokenizer = self.tokenizer
        return [
            tokenizer.special_id("<|start_header_id|>"),
            *tokenizer.encode(role),
            tokenizer.special_id("<|end_header_id|>"),
            *tokenizer.encode("\n\n"),
        ]


class TemplateChatFormat:
    """A Jinja2 chat template shipped with a model (Hugging Face or GGUF).

    The template comes from a downloaded file, so it runs in Jinja2's immutable
    sandbox, with the options and helpers that Hugging Face ``transformers``
    gives templates (``trim_blocks``, ``lstrip_blocks``, ``raise_exception``,
    ``strftime_now``).
    """

    def __init__(self, tokenizer: Tokenizer, template: str) -> None:
        from jinja2 import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        self.tokenizer = tokenizer
        environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        environment.globals["raise_exception"] = _raise_template_error
        environment.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        try:
            self.template = environment.from_string(template)
        except TemplateError as error:
            raise UserInputError(f"invalid chat template: {error}") from None

    def render(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        """Render the template to text, with message contents as given."""
        return self._render(
            [{"role": m.role, "content": m.content} for m in messages], add_generation_prompt
        )

    def encode_dialog(
        self, messages: list[Message], add_generation_prompt: bool = True
    ) -> list[int]:
        # Private-use characters plus a random tag cannot occur in the template itself.
        tag = uuid.uuid4().hex
        placeholders = [f"\ue000{tag}{i}\ue001" for i in range(len(messages))]
        rendered = self._render(
            [{"role": m.role, "content": p} for m, p in zip(messages, placeholders, strict=True)],
            add_generation_prompt,
        )

        ids: list[int] = []
        pattern = re.compile("\ue000" + tag + r"(\d+)\ue001")
        position = 0
        for match in pattern.finditer(rendered):
            ids.extend(self.tokenizer.encode_with_specials(rendered[position : match.start()]))
            # NOTE: a template that transforms the content (such as Jinja's
            # ``trim`` filter) transforms the placeholder, so the content goes in as given.
            ids.extend(self.tokenizer.encode(messages[int(match.group(1))].content))
            position = match.end()
        ids.extend(self.tokenizer.encode_with_specials(rendered[position:]))
        return ids

    def _render(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        from jinja2 import TemplateError

        bos = self.tokenizer.bos_id
        eos = self.tokenizer.eos_id
        try:
            return self.template.render(
                messages=messages,
                add_generation_prompt=add_generation_prompt,
                bos_token="" if bos is None else self.tokenizer.piece(bos),
                eos_token="" if eos is None else self.tokenizer.piece(eos),
            )
        except TemplateError as error:
            raise UserInputError(f"chat template failed to render: {error}") from None


def _raise_template_error(message: str) -> None:
    from jinja2 import TemplateError

    raise TemplateError(message)


def build_messages(prompt: str, system: str | None) -> list[Message]:
    """Return the dialog for one user prompt, with a system message only if given."""
    messages = [] if system is None else [Message("system", system)]
    messages.append(Message("user", prompt))
    return messages
