"""Corpus readers: raw IEMOCAP / MSP-Podcast releases → one row per utterance with every annotator's answer.

Each reader returns a :class:`ReadResult` (``rows``: dicts with exactly the :mod:`hf_ambiguity.schema` columns of
the corpus; ``report``: a :class:`ReadReport` of what was read, kept, skipped and dropped). Strict mode (default)
raises :class:`CorpusFormatError` naming ``file:line``; ``strict=False`` (``--lenient`` / ``corpus.lenient``) skips
bad input and counts it. Which utterances are kept (out-of-set policy, id list): :mod:`hf_ambiguity.corpora.selection`.
"""

from __future__ import annotations

from hf_ambiguity.corpora.report import ReadReport, ReadResult
from hf_ambiguity.errors import CorpusFormatError
from hf_ambiguity.corpora.iemocap import IEMOCAP_COLUMNS, read_iemocap
from hf_ambiguity.corpora.msp_podcast import MSP_COLUMNS, SPLITS, read_msp_podcast
from hf_ambiguity.corpora.selection import DEFAULT_MIN_IN_SET_SHARE, OUT_OF_SET_POLICIES, OutOfSetPolicy

__all__ = ["CorpusFormatError", "ReadReport", "ReadResult", "read_iemocap", "IEMOCAP_COLUMNS", "read_msp_podcast",
           "MSP_COLUMNS", "SPLITS", "OutOfSetPolicy", "OUT_OF_SET_POLICIES", "DEFAULT_MIN_IN_SET_SHARE"]
