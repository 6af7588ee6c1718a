"""FHIR R4 adapters: read (resources -> timeline documents), client (REST, paging, auth), write (assessment -> resources)."""
