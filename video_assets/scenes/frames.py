"""Decoding frames at detection resolution with PyAV.

Frames are scaled and converted to BGR by libswscale in one pass (cheaper than converting
at full resolution and resizing in OpenCV), decoded with frame threading, and numbered by
looking their timestamps up in the keyframe index, so variable-rate material keeps exact
frame numbers.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import av
import numpy as np
from av.video.frame import PictureType
from av.video.reformatter import VideoReformatter

from video_assets.errors import MediaError
from video_assets.keyframes import KeyframeIndex, first_video_stream, open_input

DETECTION_WIDTH = 256
"""Frames are scaled to at least this width, as PySceneDetect's auto-downscale does."""


def detection_size(width: int, height: int, min_width: int = DETECTION_WIDTH) -> tuple[int, int]:
    """Width and height frames are scaled to for detection (PySceneDetect's default factor)."""
    if width <= min_width:
        return width, height
    factor = width / float(min_width)
    return max(2, round(width / factor)), max(2, round(height / factor))


@dataclass
class DecodeStats:
    """How many frames were decoded, for honest reporting."""

    frames_decoded: int = 0
    seeks: int = 0
    damaged: set[int] = field(default_factory=set)
    """Frames the decoder flagged as corrupt (concealed errors); detection skips them."""
    runs: list[tuple[int, int]] = field(default_factory=list)
    """``(first, last)`` frame of each stretch decoded from a keyframe on, in order; a
    keyframe decoded alone (level 1) is ``(n, n)``. What a replay needs to time the
    decoding alone (``bench/scenes.py``)."""


class SeekUnreliable(Exception):
    """Decoding after a seek cannot be shown to give what a sequential pass gives."""


class _NotInARow(Exception):
    """Keyframes decoded in a row may not be what decoding each alone gives."""


class FrameReader:
    """Decodes a video stream at detection resolution.

    Args:
        index: The keyframe index of the file (used to number frames by timestamp).
        stats: Counter updated with every decoded frame.
        threads: Decoder threads (0 lets FFmpeg choose).
    """

    def __init__(self, index: KeyframeIndex, stats: DecodeStats | None = None, threads: int = 0):
        self.index = index
        self.stats = stats if stats is not None else DecodeStats()
        self.threads = threads
        # One scaler for every frame: a frame's own to_ndarray(width=...) sets up a new
        # swscale context each time (0.84 ms a frame at 720p against 0.33 ms, same pixels).
        self._reformatter = VideoReformatter()
        self._container = open_input(index.path)
        try:
            self._stream = first_video_stream(self._container, index.path)
        except MediaError:
            self._container.close()
            raise
        self._stream.thread_type = "AUTO"
        self._stream.codec_context.thread_count = threads
        self.size = detection_size(
            self._stream.codec_context.width, self._stream.codec_context.height
        )
        tb = float(self._stream.time_base) if self._stream.time_base else 0.0
        self._tb = tb
        start = self._container.start_time
        self._start_s = (start / 1_000_000) if start is not None else 0.0

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _exact_frame(self, ts: int | None) -> int | None:
        """The frame whose index time equals timestamp ``ts``, or None."""
        if ts is None or self._tb == 0.0 or self.index.timestamps == "index":
            return None
        return self.index.frame_at(ts * self._tb - self._start_s)

    def _frame_number(self, frame: av.VideoFrame, fallback: int) -> int:
        n = self._exact_frame(frame.pts)
        return fallback if n is None else n

    def _packet_frame(self, packet: av.Packet) -> int | None:
        ts = packet.dts if self.index.timestamps == "dts" else packet.pts
        return self._exact_frame(ts)

    def _to_bgr(self, frame: av.VideoFrame) -> np.ndarray:
        w, h = self.size
        # swscale's fast bilinear: a third of the time of its default (bilinear with a
        # filter as wide as the scale factor) at 720p; the detectors compare 256-pixel-wide
        # frames by mean HSV distance, which the difference does not move.
        return self._reformatter.reformat(
            frame, width=w, height=h, format="bgr24", interpolation="FAST_BILINEAR"
        ).to_ndarray()

    def keyframes(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(frame_number, bgr)`` for the index's keyframes; no other packet is decoded.

        The keyframe packets are fed to one frame-threaded decoder in a row, so their
        decoding overlaps (about twice as fast on two cores as one at a time). That gives
        exactly what decoding each keyframe alone gives as long as every one comes out as
        an intra picture, whole, numbered by its timestamp and in order: an intra picture
        depends on its own packet only. Where anything else happens (an error, which frame
        threads report on a later packet; a damaged, dropped, unnumbered or inter-coded
        frame), the keyframes after the last one given are read again the careful way,
        each decoded alone (see :meth:`_keyframes_of`). Frames are numbered by their
        timestamps: a keyframe the decoder cannot give back (damage) is missing from the
        sequence rather than shifting the ones after it.
        """
        if self.index.timestamps == "index":
            raise SeekUnreliable(f"{self.index.path} has no timestamps to number frames by")
        last = -1
        try:
            with self._own_decoder("FRAME") as (container, stream):
                for n, img in self._keyframes_in_a_row(container, stream):
                    last = n
                    yield n, img
            return
        except _NotInARow:
            pass
        # Without frame threading: with one packet in flight a frame thread has nothing to
        # overlap, and draining and resetting it after every keyframe costs hand-offs
        # between threads (slice threads still split a multi-slice frame).
        with self._own_decoder("SLICE") as (container, stream):
            yield from self._keyframes_of(container, stream, after=last)

    @contextlib.contextmanager
    def _own_decoder(
        self, thread_type: str
    ) -> Iterator[tuple[av.container.InputContainer, av.VideoStream]]:
        """The file opened again, its video stream decoded with ``thread_type`` threads
        (the reader's own decoder keeps its place for :meth:`frames`)."""
        container = open_input(self.index.path)
        try:
            stream = first_video_stream(container, self.index.path)
            stream.thread_type = thread_type
            stream.codec_context.thread_count = self.threads
            yield container, stream
        finally:
            container.close()

    def _keyframes_in_a_row(
        self, container: av.container.InputContainer, stream: av.VideoStream
    ) -> Iterator[tuple[int, np.ndarray]]:
        """The keyframes decoded in a row; raises :class:`_NotInARow` where that may differ
        from decoding each alone."""
        cc = stream.codec_context
        fed: list[int] = []  # keyframes fed and not yet given back, a heap
        last = -1

        def take(frames: Iterable[av.VideoFrame]) -> Iterator[tuple[int, np.ndarray]]:
            nonlocal last
            for frame in frames:
                n = self._exact_frame(frame.pts)
                if n is None or frame.is_corrupt or frame.pict_type != PictureType.I:
                    raise _NotInARow
                if not fed or heapq.heappop(fed) != n or n <= last:
                    raise _NotInARow  # a keyframe dropped, or a frame not fed
                self.stats.frames_decoded += 1
                self.stats.runs.append((n, n))
                last = n
                yield n, self._to_bgr(frame)

        try:
            for packet in container.demux(stream):
                if not packet.size or not packet.is_keyframe:
                    continue
                n = self._packet_frame(packet)
                if n is None or not self.index.is_key[n]:
                    raise _NotInARow
                heapq.heappush(fed, n)
                yield from take(cc.decode(packet))
            yield from take(cc.decode(None))
        except av.error.FFmpegError:
            raise _NotInARow from None
        if fed:
            raise _NotInARow

    def _keyframes_of(
        self, container: av.container.InputContainer, stream: av.VideoStream, after: int = -1
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Each keyframe after frame ``after`` decoded alone, the decoder drained and reset
        after it, so a decoder that ignores ``skip_frame`` (VP9) decodes nothing else, and
        one that holds frames back for reordering (H.264 with open-GOP I-frames) gives
        every one."""
        cc = stream.codec_context
        try:
            for packet in container.demux(stream):
                if not packet.size or not packet.is_keyframe:
                    continue
                n = self._packet_frame(packet)
                if n is not None and n <= after:
                    continue
                try:
                    frames = [*cc.decode(packet), *cc.decode(None)]
                except av.error.InvalidDataError:
                    frames = []  # a damaged keyframe: missing, as if not there
                cc.flush_buffers()
                for frame in frames:
                    self.stats.frames_decoded += 1
                    n = self._exact_frame(frame.pts)
                    if n is not None and n <= after:
                        continue
                    if n is not None and frame.is_corrupt:
                        self.stats.damaged.add(n)
                    elif n is not None and self.index.is_key[n]:
                        self.stats.runs.append((n, n))
                        yield n, self._to_bgr(frame)
        except av.error.FFmpegError as exc:
            raise MediaError(self.index.path, f"cannot be decoded ({exc})") from None

    def frames(
        self, start: int, stop: int, *, exact: bool = False
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(frame_number, bgr)`` for frames in ``[start, stop)``.

        Decoding starts at the keyframe at or before ``start``; frames decoded before
        ``start`` are counted in ``frames_decoded`` but not yielded.

        Args:
            exact: Guarantee the frames a sequential pass from the start of the file gives
                (the cascade's promise): the first packet decoded after a seek must be a
                keyframe at or before ``start`` (a demuxer that seeks by scanning, as in
                MPEG-PS/TS, can land after it: the seek is retried further back), and every
                frame in range must be numbered by its own timestamp, one after another.
                Raises :class:`SeekUnreliable` where the file makes that impossible.
        """
        kf = self.index.keyframe_at_or_before(start)
        kf = 0 if kf is None else kf
        if exact and self.index.timestamps == "index":
            raise SeekUnreliable(f"{self.index.path} has no timestamps to number frames by")
        if kf == 0 and not (self.stats.frames_decoded or self.stats.seeks):
            packets: Iterator[av.Packet] = self._container.demux(self._stream)
        else:
            packets = self._seek_packets(kf, exact)
        expected = kf  # the number a frame without a known timestamp is given
        want = start  # the next frame to yield, in exact mode
        self.stats.runs.append((kf, kf))
        for frame in self._decode(packets):
            n = self._exact_frame(frame.pts)
            if n is None:
                if exact and expected >= start:
                    raise SeekUnreliable(
                        f"a frame of {self.index.path} near frame {expected} has a timestamp "
                        f"({frame.pts}) that is not in the index"
                    )
                n = expected
            expected = n + 1
            self.stats.frames_decoded += 1
            self.stats.runs[-1] = (kf, max(self.stats.runs[-1][1], n))
            if n >= stop:
                break
            if n >= start and frame.is_corrupt:
                # A damaged frame shows the decoder's concealment, not the picture: it is
                # left out, so a detector compares the frames on either side of it.
                self.stats.damaged.add(n)
                want = n + 1
            elif n >= start:
                if exact and n != want:
                    raise SeekUnreliable(
                        f"decoding {self.index.path} from keyframe {kf} gave frame {n} where "
                        f"frame {want} was due (a damaged or undecodable frame)"
                    )
                want = n + 1
                yield n, self._to_bgr(frame)
        if exact and want < min(stop, self.index.frame_count):
            raise SeekUnreliable(
                f"decoding {self.index.path} from keyframe {kf} ended before frame {want}"
            )

    def _seek_packets(self, kf: int, exact: bool) -> Iterator[av.Packet]:
        """Packets from a keyframe at or before frame ``kf``, after a seek."""
        target = self.index.pts_s[kf] + self._start_s
        back = 0.0
        for _ in range(4 if exact else 1):
            self._container.seek(
                int(round(max(target - back, 0.0) / self._tb)) if self._tb else 0,
                stream=self._stream,
                backward=True,
                any_frame=False,
            )
            self.stats.seeks += 1
            packets = self._container.demux(self._stream)
            if not exact:
                return packets
            try:
                for packet in packets:
                    if packet.size and packet.is_keyframe:
                        first = self._packet_frame(packet)
                        break
                else:
                    first = None
            except av.error.FFmpegError as exc:
                raise MediaError(self.index.path, f"cannot be demuxed ({exc})") from None
            if first is not None and first <= kf:
                return itertools.chain([packet], packets)
            gop_s = float(self.index.pts_s[kf] - self.index.pts_s[self._previous_keyframe(kf)])
            back = max(2.0 * back, gop_s, 1.0)
        raise SeekUnreliable(
            f"seeking {self.index.path} to keyframe {kf} lands after it "
            f"(first keyframe decoded: {first})"
        )

    def _previous_keyframe(self, kf: int) -> int:
        prev = self.index.keyframe_at_or_before(kf - 1) if kf > 0 else None
        return 0 if prev is None else prev

    def _decode(self, packets: Iterable[av.Packet]) -> Iterator[av.VideoFrame]:
        try:
            for packet in packets:
                yield from packet.decode()
        except av.error.FFmpegError as exc:
            raise MediaError(self.index.path, f"cannot be decoded ({exc})") from None
