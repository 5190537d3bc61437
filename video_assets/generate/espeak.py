"""espeak-ng through ``libespeak-ng.so.1`` (ctypes), each synthesis from the library's
initial state.

libespeak-ng keeps state from one synthesis to the next that no API call resets (the voice
variant last used, prosody and wave-generator state): in one process, the same German text
came out with three different lengths after three different histories, and Whisper base
heard "mitzug her umnäumung ab" instead of "Der Zug fährt um neun Uhr ab" after an earlier
``en-us+f3``. Generated media must not depend on what was generated before it (a test's
audio would depend on which tests its worker ran first), and ``espeak_Terminate`` followed
by ``espeak_Initialize`` hangs in 1.51. So each synthesis runs in a child forked from a
small helper process that loads the library and never initialises it: every child starts
from the same state, and the same call gives the same samples in any process, after any
history. The helper is single-threaded (forking it is safe), started once per process on
first use, and stops when its parent closes the pipe.

This module imports the standard library only, so the helper starts in a few tens of
milliseconds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import pickle
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import IO, Any

ESPEAK_LIBRARY = "libespeak-ng.so.1"

# espeak-ng API constants (speak_lib.h).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
EVENT_LIST_TERMINATED = 0
EVENT_WORD = 1
EVENT_MSG_TERMINATED = 6
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
_PARAM_WORDGAP = 7


class _EspeakEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_EspeakEvent)
)


@dataclass(frozen=True)
class Synthesis:
    """What one synthesis gives: 16-bit mono PCM bytes, their rate and espeak's events."""

    pcm: bytes
    """int16 native-endian samples."""
    sample_rate: int
    events: list[tuple[int, int, int, int]]
    """``(type, text_position, length, sample)`` per event, in order."""


class EspeakError(Exception):
    """The library is missing, did not initialise, or a synthesis failed."""


class UnknownVoice(ValueError):
    """espeak-ng has no voice of that name."""


def _load_library() -> Any:
    names = [n for n in (ctypes.util.find_library("espeak-ng"), ESPEAK_LIBRARY) if n]
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise EspeakError(
        f"{ESPEAK_LIBRARY} cannot be loaded; install it with "
        "`apt-get install libespeak-ng1 espeak-ng-data`"
    )


def _synthesize_here(
    lib: Any, text: str, voice: str, rate_wpm: int, pitch: int, word_gap: int
) -> Synthesis:
    """Initialise the library and synthesise ``text`` once (run in a fresh child)."""
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0)
    if rate <= 0:
        raise EspeakError(
            f"espeak_Initialize failed (returned {rate}); is espeak-ng-data installed?"
        )
    chunks: list[bytes] = []
    events: list[tuple[int, int, int, int]] = []

    def on_synth(wav: Any, numsamples: int, evs: Any) -> int:
        if numsamples > 0 and wav:
            chunks.append(ctypes.string_at(wav, numsamples * 2))
        i = 0
        while evs[i].type != EVENT_LIST_TERMINATED:
            ev = evs[i]
            events.append((ev.type, ev.text_position, ev.length, ev.sample))
            if ev.type == EVENT_MSG_TERMINATED:
                break
            i += 1
        return 0

    callback = _SynthCallback(on_synth)
    lib.espeak_SetSynthCallback(callback)
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise UnknownVoice(f"espeak-ng has no voice named {voice!r}")
    lib.espeak_SetParameter(_PARAM_RATE, rate_wpm, 0)
    lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
    lib.espeak_SetParameter(_PARAM_VOLUME, 100, 0)
    lib.espeak_SetParameter(_PARAM_WORDGAP, word_gap, 0)
    data = text.encode("utf-8") + b"\0"
    status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
    lib.espeak_Synchronize()
    if status != 0:
        raise EspeakError(f"espeak_Synth failed with status {status} for {text[:60]!r}")
    return Synthesis(b"".join(chunks), int(rate), events)


def _send(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    (size,) = struct.unpack("<Q", head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def _read_all(fd: int) -> bytes:
    parts = []
    while chunk := os.read(fd, 1 << 20):
        parts.append(chunk)
    return b"".join(parts)


def serve() -> None:
    """The helper's loop: one request in, one fork, one reply out, until stdin closes."""
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever the library prints goes to stderr, never into the replies
    requests = sys.stdin.buffer
    try:
        lib: Any = _load_library()
    except EspeakError as exc:
        lib = exc
    while True:
        try:
            request = _receive(requests)
        except EOFError:
            return
        if isinstance(lib, EspeakError):
            _send(channel, ("error", "EspeakError", str(lib)))
            continue
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: a fresh library state, one synthesis, then gone
            os.close(read_end)
            try:
                reply: tuple = ("ok", _synthesize_here(lib, *request))
            except UnknownVoice as exc:
                reply = ("error", "UnknownVoice", str(exc))
            except Exception as exc:
                reply = ("error", "EspeakError", f"{type(exc).__name__}: {exc}")
            with os.fdopen(write_end, "wb") as out:
                _send(out, reply)
            os._exit(0)
        os.close(write_end)
        data = _read_all(read_end)
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
        if data:
            channel.write(data)
            channel.flush()
        else:
            _send(channel, ("error", "EspeakError", f"the synthesis process died ({status=})"))


class _Helper:
    """The process's helper, started on first use (again after a fork or its death)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0

    def _start(self) -> subprocess.Popen[bytes]:
        if self.proc is not None and self.pid == os.getpid() and self.proc.poll() is None:
            return self.proc
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from video_assets.generate.espeak import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        self.pid = os.getpid()
        return self.proc

    def call(self, request: tuple) -> Any:
        with self.lock:
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                _send(proc.stdin, request)
                return _receive(proc.stdout)
            except (EOFError, BrokenPipeError, OSError) as exc:
                proc.kill()
                self.proc = None
                raise EspeakError(f"the espeak-ng helper process stopped: {exc!r}") from None


_HELPER = _Helper()


def synthesize_pcm(text: str, voice: str, rate_wpm: int, pitch: int, word_gap: int) -> Synthesis:
    """Synthesise ``text`` from espeak-ng's initial state (see the module's docstring).

    Raises:
        UnknownVoice: espeak-ng has no voice ``voice``.
        EspeakError: The library is missing or the synthesis failed.
    """
    reply = _HELPER.call((text, voice, rate_wpm, pitch, word_gap))
    if reply[0] == "ok":
        return reply[1]
    _, kind, message = reply
    raise (UnknownVoice if kind == "UnknownVoice" else EspeakError)(message)


@functools.cache
def sample_rate() -> int:
    """espeak-ng's native output rate (22050 Hz for its voices)."""
    return synthesize_pcm("a", "en", 150, 50, 0).sample_rate
