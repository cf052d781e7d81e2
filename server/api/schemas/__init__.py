"""Request and response shapes, one family per entity (…Create / …In, …Public)."""
