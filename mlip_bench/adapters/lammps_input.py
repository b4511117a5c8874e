"""What a LAMMPS potential spec may contain: an allow-list of commands.

A spec (inline ``lammps:CMD; CMD``, a ``lammps:FILE`` command file, an ``eam:FILE`` header) reaches
LAMMPS command by command, and LAMMPS can run shell commands (``shell``), write files (``print ...
file``, ``write_*``, ``dump``, ``log``), load code (``python``, ``plugin``) and expand variables into
any of those. A potential definition needs none of that, so only the commands in
:data:`ALLOWED_COMMANDS` pass, with no variable (``$``), continuation (``&``) or quote anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mlip_bench.errors import PotentialError

#: every command a potential definition may use (``elements`` is the adapter's own pseudo-command)
ALLOWED_COMMANDS = frozenset(
    {"pair_style", "pair_coeff", "pair_modify", "mass", "neighbor", "neigh_modify", "elements"}
)
#: pair_style words that make LAMMPS run Python code (a module, a pickled model)
CODE_STYLE_WORDS = frozenset({"python", "mliappy", "unified"})
#: characters LAMMPS gives a meaning beyond a plain word: variables, continuations, quoting
_SPECIAL = {"$": "a variable ($)", "&": "a continuation (&)", '"': "a quote", "'": "a quote"}


@dataclass(frozen=True)
class CommandLine:
    """One checked command: its words and where it came from (for messages)."""

    words: tuple[str, ...]
    #: e.g. "/path/pot.snap: line 4" or "inline spec 'pair_style ...', command 2"
    where: str


def checked_commands(lines: Iterable[str], origin: str, *, unit: str = "line") -> Iterator[CommandLine]:
    """The commands of `lines` (comments and blank lines dropped), each checked against the allow-list.

    `origin` names the source in messages (a file path, "inline spec '...'"); `unit` is "line" for a
    file, "command" for an inline spec. Raises PotentialError naming the command, its number and
    `origin` on the first command that is not allowed.
    """
    for number, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        where = f"{origin}, {unit} {number}" if unit == "command" else f"{origin}: {unit} {number}"
        words = tuple(text.split())
        check_words(words, where)
        yield CommandLine(words=words, where=where)


def check_words(words: tuple[str, ...], where: str) -> None:
    """Raise PotentialError (naming `where`) unless `words` is an allowed command with plain arguments."""
    command = words[0]
    if command not in ALLOWED_COMMANDS:
        raise PotentialError(
            f"{where}: command {command!r} is not allowed in a potential definition "
            f"(allowed: {', '.join(sorted(ALLOWED_COMMANDS))})"
        )
    for word in words:
        for char, what in _SPECIAL.items():
            if char in word:
                raise PotentialError(f"{where}: {command}: {what} in {word!r} is not allowed in a potential spec")
        if word.startswith("v_"):
            raise PotentialError(f"{where}: {command}: variable reference {word!r} is not allowed in a potential spec")
    if command == "pair_style":
        code = sorted(CODE_STYLE_WORDS.intersection(words[1:]))
        if code:
            raise PotentialError(f"{where}: pair_style {code[0]!r} runs Python code and is not allowed")


def check_setup_commands(commands: Iterable[str]) -> None:
    """Last guard before LAMMPS: every command of a built setup is allowed (raises PotentialError)."""
    for i, command in enumerate(commands, start=1):
        words = tuple(command.split())
        if words:
            check_words(words, f"LAMMPS setup command {i} ({command[:80]!r})")
