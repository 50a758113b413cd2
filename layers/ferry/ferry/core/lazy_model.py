"""The base of Ferry's pydantic models: each is built (its validator and serializer) on first use.

A function imports every model its routes or steps could need, yet one request or step
uses a few: building all of them at import cost the API's cold start ~15 ms for models
most of its requests never touch. A model built on first use costs that request ~1 ms.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class LazyModel(BaseModel):
    model_config = ConfigDict(defer_build=True)
