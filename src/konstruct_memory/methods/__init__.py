"""The operations as methods, each declared once (name, parameters, defaults, result and
docstring) for every face that offers them as methods: the library (``TenantMemory``,
``Memory``) and the HTTP clients, blocking and asynchronous. ``declared.py`` holds the
declarations; ``call.py`` says how one declaration serves every face.

Light, like the client that imports it: the operations contract and the standard library.
"""

from konstruct_memory.methods.call import AsyncFace, BlockingFace
from konstruct_memory.methods.declared import AdminMethods, TenantMethods

__all__ = ["AdminMethods", "AsyncFace", "BlockingFace", "TenantMethods"]
