"""A QEMU command line as people paste it, turned into an argument list.

Accepted forms:

* libvirt's log line (``/var/log/libvirt/qemu/NAME.log``): a timestamp
  prefix such as ``2025-01-02 03:04:05.678+0000: `` (libvirt
  ``src/qemu/qemu_process.c`` writes it before "starting up" and, in older
  releases, before the command itself), the environment assignments libvirt
  sets (``LC_ALL=C PATH=... HOME=...``), the program path, and one option
  per line joined by ``\\``-newline continuations (``virCommandToString`` with
  line breaks, libvirt 6.2+); the lines around it ("starting up libvirt
  version: ...", "char device redirected to ...") are skipped;
* ``qm showcmd VMID --pretty`` (Proxmox qemu-server): ``/usr/bin/kvm \\``
  then one quoted option per line;
* a shell command line with its quoting (``shlex``), on one or several lines;
* a JSON list of strings (an argv as a program would log it).

The program (``qemu-system-x86_64``, ``qemu-kvm``, ``kvm``, with or without
a path) and the environment assignments before it are dropped.
"""

from __future__ import annotations

import json
import re
import shlex

from ..errors import CommandLineError, ParseError

__all__ = ["argv_from_text", "strip_program", "read_command_file", "with_program_accel",
           "names_accelerator"]

#: libvirt's log timestamp (virTimeStringNowRaw: "%Y-%m-%d %H:%M:%S.%03d+0000"),
#: and the ISO form QEMU's -msg timestamp=on prints
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:?\d{2}|Z)?:?\s*")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_PROGRAM = re.compile(r"^(?:qemu-system-[\w-]+|qemu-kvm|kvm|qemu)$")


def _is_program(token: str) -> bool:
    return bool(_PROGRAM.match(token.rsplit("/", 1)[-1]))


def names_accelerator(args: list[str]) -> bool:
    """Whether ``args`` name an accelerator (``-accel``, ``-enable-kvm``,
    ``-machine accel=``)."""
    return any(a in ("-accel", "-enable-kvm", "--accel", "--enable-kvm") for a in args) or any(
        "accel=" in args[j + 1] for j, a in enumerate(args[:-1]) if a in ("-machine", "-M"))


def with_program_accel(program: str, args: list[str]) -> list[str]:
    """``args`` with ``-accel kvm`` first when the program's name ends in
    "kvm" (``kvm``, ``qemu-kvm``) and they name no accelerator: QEMU then
    tries KVM first (softmmu/vl.c ``configure_accelerators``: "kvm:tcg" for
    such a program name, "tcg:kvm" otherwise; QEMU 7.2 through 10.0)."""
    if program.rsplit("/", 1)[-1].endswith("kvm") and not names_accelerator(args):
        return ["-accel", "kvm"] + args
    return args


def strip_program(argv: list[str], source: str = "the command line") -> list[str]:
    """Drop leading ``NAME=value`` environment assignments and the program
    (a program named ``*kvm`` leaves ``-accel kvm`` when no accelerator is
    named: :func:`with_program_accel`)."""
    program, rest = _strip(argv, source)
    return with_program_accel(program, rest) if program else rest


def _strip(argv: list[str], source: str) -> tuple[str | None, list[str]]:
    """(the program or None, the arguments after it and the environment)."""
    i = 0
    while i < len(argv) and _ENV.match(argv[i]) and not argv[i].startswith("-"):
        i += 1
    if i < len(argv) and not argv[i].startswith("-"):
        if _is_program(argv[i]):
            return argv[i], argv[i + 1:]
        elif i > 0:
            raise CommandLineError(f"{source}: {argv[i]!r} after the environment assignments is "
                                   f"not a QEMU program (qemu-system-x86_64, qemu-kvm, kvm)")
    return None, argv[i:]


def _split(line: str, source: str, line_no: int) -> list[str]:
    try:
        return shlex.split(line, posix=True)
    except ValueError as e:
        raise CommandLineError(f"{source}: line {line_no}: cannot split as a shell command "
                               f"({e}): {line[:80]!r}") from None


def argv_from_text(text, source: str = "pasted text") -> list[str]:
    """The QEMU arguments (without the program) in ``text``; see the module."""
    if isinstance(text, (list, tuple)):
        if not all(isinstance(a, str) for a in text):
            raise CommandLineError(f"{source}: an argument list must hold strings only")
        return strip_program(list(text), source)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CommandLineError(f"{source}: not UTF-8 text (byte {e.start}); "
                                   f"expected a QEMU command line") from None
    if not isinstance(text, str):
        raise CommandLineError(f"{source}: expected text, got {type(text).__name__}")
    if "\x00" in text:
        raise CommandLineError(f"{source}: contains NUL bytes; expected a QEMU command line, "
                               f"not a binary file")
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            argv = json.loads(stripped)
        except json.JSONDecodeError as e:
            raise CommandLineError(f"{source}: looks like a JSON list but is not ({e})") from None
        return argv_from_text(argv if isinstance(argv, list) else [argv], source)
    # \-newline continuations join the lines of one command
    joined = re.sub(r"\\[ \t]*\r?\n", " ", text)
    lines = []
    for n, line in enumerate(joined.splitlines(), 1):
        line = _TIMESTAMP.sub("", line.strip()).strip()
        if line:
            lines.append((n, line))
    # the line that runs QEMU (its program, maybe after env assignments), and
    # the option lines after it; else every line that starts with an option
    argv: list[str] = []
    found = False
    for n, line in lines:
        if not found:
            words = _split(line, source, n) if ("qemu" in line or "kvm" in line
                                                 or line.startswith("-")) else []
            program, rest = _strip(words, source) if words else (None, [])
            if program or (words and words[0].startswith("-")):
                argv.extend(rest)
                found = True
            continue
        if line.startswith("-"):
            argv.extend(_split(line, source, n))
        else:
            break                                # the log goes on after the command
    if not found:
        raise CommandLineError(f"{source}: no QEMU command line found (expected options such as "
                               f"-machine q35, or a line running qemu-system-x86_64)")
    return with_program_accel(program, argv) if program else argv


def read_user_file(path: str, option: str) -> bytes:
    """The bytes of a file a user named with ``option`` (``--command-file``,
    ``--libvirt-xml``, ``--proxmox-conf``); an unreadable file is a
    :class:`~vfiolab.errors.CommandLineError` naming the option and why."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CommandLineError(f"{option} {path}: {e.strerror}") from None


def read_user_text(path: str, option: str) -> str:
    """:func:`read_user_file` decoded as UTF-8 (a config file's encoding);
    anything else is a :class:`~vfiolab.errors.ParseError`."""
    try:
        return read_user_file(path, option).decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("not UTF-8 text", source=path) from None


def read_command_file(path: str, stdin=None) -> list[str]:
    """``--command-file FILE`` (``-``: standard input): its command line."""
    import sys
    if path == "-":
        data = (stdin or getattr(sys.stdin, "buffer", sys.stdin)).read()
        source = "standard input"
    else:
        data = read_user_file(path, "--command-file")
        source = path
    return argv_from_text(data, source)
