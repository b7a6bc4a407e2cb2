"""Whether the Hugging Face hub can be reached, decided within about two seconds.

``datasets`` and ``huggingface_hub`` retry a dead network several times (about 24 s) before
they give up; a command that can fall back on local data (a task's shipped sample) or must fail
asks :func:`offline_reason` first and gets its answer from the environment or from one quick
probe, made once per process.
"""

from __future__ import annotations

import functools
import os

HUB_URL = "https://huggingface.co"
PROBE_TIMEOUT_S = 1.5
"""One HEAD request to the hub: a working network answers well within this."""
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")

_FALSE = ("", "0", "false", "no", "off")


def offline_reason() -> str | None:
    """Why the hub cannot be used (``"HF_HUB_OFFLINE=1"``, ``"https://huggingface.co did not
    answer within 1.5 s"``), or None when it answered."""
    for name in OFFLINE_VARIABLES:
        value = os.environ.get(name, "")
        if value.strip().lower() not in _FALSE:
            return f"{name}={value}"
    return probe_hub()


@functools.cache
def probe_hub() -> str | None:
    """One HEAD request to the hub, cached for the process: None if it answered (any HTTP
    status means the network is there), else the reason it did not."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(urllib.request.Request(HUB_URL, method="HEAD"), timeout=PROBE_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        return None
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        return f"{HUB_URL} did not answer within {PROBE_TIMEOUT_S:g} s ({' '.join(str(reason).split())})"
    return None
