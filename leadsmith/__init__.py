"""leadsmith: a self-hosted contact-enrichment API server that speaks the Kaspr public API.

Module recipe (see CONTRIBUTING.md): each feature folder holds ``endpoints.py`` (thin
FastAPI routes), ``service.py`` (rules), ``repository.py`` (all SQL) and ``schemas.py``
(request/response models). ``leadsmith.access`` is the smallest complete example.
"""

__version__ = "0.2.0"
